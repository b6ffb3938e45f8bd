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

    @Test
    void interopCommandsOnATrainedRun() throws IOException {
        Path run = tmp.resolve("run");
        String base = Fixtures.torchscript().toString();
        Run t = run("train", "--model", base, "--tokenizer", Fixtures.tokenizer().toString(), "--train",
                "models/datasets/manpages/train.jsonl", "--out", run.toString(), "--steps", "3", "--batch-size", "4",
                "--lr", "5e-3", "--target", "q_proj,v_proj", "--threads", "2", "-q");
        assertEquals(0, t.code(), t.err());
        // PEFT out of a run folder (the patched model is found in it), then back in
        Path peft = tmp.resolve("peft");
        Run e = run("export-adapter", "--adapter", run.toString(), "--format", "peft", "--out", peft.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(Files.exists(peft.resolve("adapter_config.json")) && Files.exists(peft.resolve("adapter_model.safetensors")));
        Path fromRun = tmp.resolve("w-run.onnx");
        assertEquals(0, run("merge", "--model", run.resolve("model.onnx").toString(), "--adapter", run.toString(),
                "--out", fromRun.toString()).code());
        Path fromPeft = tmp.resolve("w-peft.onnx");
        Run m = run("merge", "--model", base, "--peft", peft.toString(), "--out", fromPeft.toString());
        assertEquals(0, m.code(), m.err());
        Run v = run("verify", "--a", fromRun.toString(), "--b", fromPeft.toString(), "--tolerance", "1e-6");
        assertEquals(0, v.code(), v.out() + v.err());
        Path patched = tmp.resolve("p-peft.onnx");
        Run p = run("patch", "--model", Fixtures.dynamo().toString(), "--from-peft", peft.toString(), "--out",
                patched.toString());
        assertEquals(0, p.code(), p.err());
        assertEquals(0, run("verify", "--a", fromRun.toString(), "--b", patched.toString(), "--tolerance", "1e-4").code());
        // switch the merged model back to the base: subtract the run's adapter
        Path back = tmp.resolve("back.onnx");
        Run s = run("merge", "--model", fromRun.toString(), "--subtract", run.toString(), "--out", back.toString());
        assertEquals(0, s.code(), s.err());
        assertEquals(0, run("verify", "--a", base, "--b", back.toString(), "--tolerance", "1e-4").code());
        // ONNX Runtime adapter + switchable model
        Path ort = tmp.resolve("ort");
        Run o = run("export-adapter", "--adapter", run.toString(), "--format", "onnx-adapter", "--out", ort.toString(),
                "--name", "task");
        assertEquals(0, o.code(), o.err());
        assertTrue(Files.exists(ort.resolve("task.onnx_adapter")) && Files.exists(ort.resolve("model.onnx")));
        // without an active adapter the switchable model is the base model
        assertEquals(0, run("verify", "--a", base, "--b", ort.resolve("model.onnx").toString(), "--tolerance", "1e-6").code());
    }

    @Test
    void interopErrorsAreOneLine() throws IOException {
        String base = Fixtures.torchscript().toString();
        Path empty = Files.createDirectories(tmp.resolve("not-peft"));
        Files.writeString(empty.resolve("adapter_model.safetensors"), "");
        assertOneLineError(run("merge", "--model", base, "--peft", empty.toString(), "--out",
                tmp.resolve("w.onnx").toString()), 3, "adapter_config.json");
        assertOneLineError(run("patch", "--model", base, "--from-peft", "models/tiny-bart/goldens/peft_native",
                "--rank", "4", "--out", tmp.resolve("p.onnx").toString()), 2, "--rank", "--from-peft");
        assertOneLineError(run("merge", "--model", base, "--add", "models/tiny-bart/goldens/peft_native:abc",
                "--out", tmp.resolve("w2.onnx").toString()), 2, "weight");
        assertOneLineError(run("export-adapter", "--adapter", "models/tiny-bart/goldens/peft_native", "--format", "gguf",
                "--out", tmp.resolve("x").toString()), 2, "--format");
        Path p = tmp.resolve("p.onnx");
        assertEquals(0, run("patch", "--model", base, "--out", p.toString(), "--rank", "4").code());
        assertOneLineError(run("merge", "--model", p.toString(), "--add", "models/tiny-bart/goldens/peft_native",
                "--out", tmp.resolve("w3.onnx").toString()), 2, "still has LoRA branches");
    }
}
