package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.onnxlora.cli.CliTest.assertOneLineError;
import static org.onnxlora.cli.CliTest.run;

import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.ChildJvm;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/** What a user reads when something is wrong: the right exit code and one line, nothing else. */
class CliMessagesTest {
    @TempDir
    Path tmp;

    static final String MODEL = Fixtures.torchscript().toString();
    static final String TOKENIZER = Fixtures.tokenizer().toString();

    private Path emptyModel() throws IOException {
        return Files.write(tmp.resolve("empty.onnx"), new byte[0]);
    }

    private Path truncatedModel() throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.torchscript());
        return Files.write(tmp.resolve("cut.onnx"), Arrays.copyOf(bytes, bytes.length / 3));
    }

    private Path rows(String name, int n) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append("{\"source\": \"list directory contents number ").append(i).append("\"}\n");
        }
        return Files.writeString(tmp.resolve(name), sb.toString());
    }

    @Test
    void verifyAndGenerateCallABrokenModelFileAnInvalidModel() throws IOException {
        Path input = rows("in.jsonl", 2);
        for (Path bad : List.of(emptyModel(), truncatedModel())) {
            String name = bad.getFileName().toString();
            assertOneLineError(run("verify", "--a", MODEL, "--b", bad.toString()), 4, name);
            assertOneLineError(run("verify", "--a", bad.toString(), "--b", MODEL), 4, name);
            CliTest.Run g = run("generate", "--model", bad.toString(), "--tokenizer", TOKENIZER, "--input",
                    input.toString(), "--out", tmp.resolve("p.jsonl").toString());
            assertOneLineError(g, 4, name);
            assertFalse(g.err().contains("ONNX Runtime"), g.err());
        }
        // a damaged file inside an Optimum folder too
        Path folder = Files.createDirectories(tmp.resolve("optimum"));
        try (var files = Files.list(Fixtures.optimum())) {
            for (Path f : files.toList()) {
                Files.copy(f, folder.resolve(f.getFileName()));
            }
        }
        byte[] dec = Files.readAllBytes(folder.resolve("decoder_model.onnx"));
        Files.write(folder.resolve("decoder_model.onnx"), Arrays.copyOf(dec, 3000));
        assertOneLineError(run("generate", "--model", folder.toString(), "--tokenizer", TOKENIZER, "--input",
                input.toString(), "--out", tmp.resolve("p.jsonl").toString()), 4, "decoder_model.onnx");
    }

    @Test
    void generateTakesTheFormatItsErrorAsksFor() throws IOException {
        Path txt = rows("rows.txt", 3);
        Path out = tmp.resolve("preds.jsonl");
        assertOneLineError(run("generate", "--model", MODEL, "--tokenizer", TOKENIZER, "--input", txt.toString(),
                "--out", out.toString()), 2, "rows.txt", "format");
        CliTest.Run r = run("generate", "--model", MODEL, "--tokenizer", TOKENIZER, "--input", txt.toString(),
                "--out", out.toString(), "--format", "jsonl", "--max-new-tokens", "2", "-q");
        assertEquals(0, r.code(), r.err());
        assertEquals(3, Files.readAllLines(out).size());
        assertEquals(3, JsonParser.parseString(r.out()).getAsJsonObject().get("examples").getAsInt());
        assertOneLineError(run("generate", "--model", MODEL, "--tokenizer", TOKENIZER, "--input", txt.toString(),
                "--out", out.toString(), "--force", "--format", "xml"), 2, "xml");
    }

    @Test
    void anIoFailureWithoutItsOwnMessageIsStillOneLine() throws IOException {
        Path file = Files.writeString(tmp.resolve("not-a-folder"), "mine");
        CliTest.Run r = run("demo", "--work", file.resolve("sub").toString());
        assertOneLineError(r, 3, file.resolve("sub").toString(), "not a directory");
        assertFalse(r.err().contains("Exception"), r.err());
        assertEquals("mine", Files.readString(file));
    }

    /**
     * ONNX Runtime logs a failing kernel on the process's own stderr, in colour, next to the error
     * onnx-lora reports; only a child process shows what reaches the terminal.
     */
    @Test
    void onnxRuntimesOwnLogLinesDoNotReachTheTerminal() throws Exception {
        // x [n, 3] reshaped to [5]: loads fine, fails on every run (3n is never 5)
        TensorProto shape = Tensors.ofLongs("shape", new long[] {1}, 5);
        Path model = tmp.resolve("reshape.onnx");
        ModelIO.save(new TinyGraphs(0).input("x", TensorProto.DataType.FLOAT_VALUE, "n", 3L).init(shape)
                .node("Reshape", "bad_reshape", TinyGraphs.list("x", "shape"), TinyGraphs.list("y"))
                .output("y", TensorProto.DataType.FLOAT_VALUE, 5L).model(), model);
        List<String> cmd = new ArrayList<>(ChildJvm.cli());
        cmd.addAll(List.of("verify", "--a", model.toString(), "--b", model.toString(), "--samples", "1"));
        Path err = tmp.resolve("stderr.txt");
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).redirectOutput(tmp.resolve("stdout.txt").toFile())
                .start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "verify did not finish");
        String text = Files.readString(err, StandardCharsets.UTF_8);
        assertEquals(8, p.exitValue(), text);
        assertFalse(text.contains("\u001b["), "colour codes on stderr: " + text);
        assertFalse(text.contains(":onnxruntime:"), "ONNX Runtime's own log line on stderr: " + text);
        List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), text);
        assertTrue(lines.get(0).startsWith("onnx-lora: error: running ") && lines.get(0).contains("bad_reshape"), text);
    }
}
