package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.Fixtures;
import picocli.CommandLine;

/** The CLI as a user meets it: exit codes, one-line errors, nothing of theirs overwritten. */
class CliTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static void assertOneLineError(Run r, int code, String... fragments) {
        assertEquals(code, r.code(), r.err());
        String line = r.err().strip();
        assertFalse(line.contains("\n\tat "), "stack trace printed: " + r.err());
        for (String f : fragments) {
            assertTrue(line.contains(f), "'" + f + "' not in: " + line);
        }
    }

    @Test
    void inspectListsProjectionsAndJson() {
        Run r = run("inspect", "--model", Fixtures.torchscript().toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("attention projections (24)"), r.out());
        assertTrue(r.out().contains("model.decoder.layers.1.encoder_attn.out_proj"), r.out());
        Run j = run("inspect", "--model", Fixtures.dynamo().toString(), "--json");
        assertEquals(0, j.code(), j.err());
        var arr = com.google.gson.JsonParser.parseString(j.out()).getAsJsonArray();
        assertEquals(24, arr.get(0).getAsJsonObject().getAsJsonArray("projections").size());
    }

    @Test
    void patchVerifyMergeRoundTrip() {
        Path p = tmp.resolve("p.onnx");
        Path w = tmp.resolve("w.onnx");
        assertEquals(0, run("patch", "--model", Fixtures.torchscript().toString(), "--out", p.toString(),
                "--rank", "4", "--target", "q_proj,v_proj").code());
        Run v = run("verify", "--a", Fixtures.torchscript().toString(), "--b", p.toString(), "--tolerance", "1e-6");
        assertEquals(0, v.code(), v.out() + v.err());
        assertEquals(0, run("merge", "--model", p.toString(), "--out", w.toString()).code());
        assertTrue(Files.exists(w));
    }

    @Test
    void dryRunExplainsEverySkippedProjection() {
        Run r = run("patch", "--model", Fixtures.torchscript().toString(), "--target", "q_proj", "--dry-run");
        assertEquals(0, r.code(), r.err());
        assertEquals(6, r.out().lines().filter(l -> l.contains("  patch  ")).count());
        assertEquals(18, r.out().lines().filter(l -> l.contains("  skip   ") && l.contains("not selected")).count());
    }

    @Test
    void badInputsGiveOneLineAndANonZeroExit() throws IOException {
        String model = Fixtures.torchscript().toString();
        String out = tmp.resolve("o.onnx").toString();
        Path text = tmp.resolve("readme.onnx");
        Files.writeString(text, "hello\n");
        assertOneLineError(run("inspect", "--model", text.toString()), 4, "readme.onnx", "not an ONNX model");
        byte[] bytes = Files.readAllBytes(Fixtures.torchscript());
        Path cut = tmp.resolve("cut.onnx");
        Files.write(cut, Arrays.copyOf(bytes, 1000));
        assertOneLineError(run("patch", "--model", cut.toString(), "--out", out), 4, "cut.onnx");
        assertOneLineError(run("patch", "--model", model, "--out", out, "--target", "qq_proj"), 6,
                "qq_proj", "q_proj", "v_proj");
        assertOneLineError(run("patch", "--model", model, "--out", out, "--rank", "0"), 2, "--rank");
        assertOneLineError(run("patch", "--model", model, "--out", out, "--rank", "64"), 2, "rank 64", "64x64");
        assertOneLineError(run("patch", "--model", model, "--out", model), 2, "input itself");
        assertOneLineError(run("patch", "--model", model, "--rank", "x"), 2, "--rank");
        assertOneLineError(run("patch", "--model", model, "--out", out, "--init", "xavier"), 2, "--init");
        assertOneLineError(run("merge", "--model", model, "--out", out), 5, "no LoRA branches");
        assertOneLineError(run("verify", "--a", model, "--b", Fixtures.optimum().resolve("encoder_model.onnx").toString()),
                9, "different signatures");
    }

    @Test
    void existingOutputNeedsForceAndInputsAreNeverTouched() throws IOException {
        Path out = tmp.resolve("taken.onnx");
        Files.writeString(out, "precious");
        byte[] before = Files.readAllBytes(Fixtures.torchscript());
        Run r = run("patch", "--model", Fixtures.torchscript().toString(), "--out", out.toString());
        assertOneLineError(r, 3, "already exists", "--force");
        assertEquals("precious", Files.readString(out));
        assertEquals(0, run("patch", "--model", Fixtures.torchscript().toString(), "--out", out.toString(), "--force").code());
        assertArrayEquals(before, Files.readAllBytes(Fixtures.torchscript()));
        try (var s = Files.list(tmp)) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "temporary file left behind");
        }
    }

    @Test
    void helpTeaches() {
        Run r = run("patch", "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("Examples:") && r.out().contains("--target"), r.out());
    }

    @Test
    void demoRuns() {
        Run r = run("demo", "--work", tmp.resolve("demo").toString(), "--steps", "20");
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("demo OK"), r.out());
    }
}
