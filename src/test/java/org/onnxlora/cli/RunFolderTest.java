package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.run.RunLock;

/**
 * What train does to the folder it is given, and what every writing command does to its
 * inputs under --force: nothing but the named output (and a run's own files) is replaced.
 */
class RunFolderTest {
    @TempDir
    static Path tmp;
    /** A finished 2-step run, checkpoints at steps 1 and 2; tests that change it work on a copy. */
    static Path run;
    static Path data;

    static List<String> train(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", Fixtures.torchscript().toString(),
                "--tokenizer", Fixtures.tokenizer().toString(), "--train", data.toString(), "--out", out.toString(),
                "--batch-size", "4", "--lr", "1e-3", "--steps", "2", "--save-every", "1", "--threads", "2",
                "--max-source-length", "64", "--max-target-length", "16", "-q"));
        a.addAll(List.of(extra));
        return a;
    }

    static CliTest.Run cli(List<String> args, String... extra) {
        List<String> a = new ArrayList<>(args);
        a.addAll(List.of(extra));
        return CliTest.run(a.toArray(String[]::new));
    }

    /** {@code args} with the value after {@code flag} replaced. */
    static List<String> with(List<String> args, String flag, String value) {
        List<String> a = new ArrayList<>(args);
        a.set(a.indexOf(flag) + 1, value);
        return a;
    }

    /** Without -q: the notes on stderr are what is checked. */
    static List<String> loud(List<String> args) {
        List<String> a = new ArrayList<>(args);
        a.remove("-q");
        return a;
    }

    @BeforeAll
    static void trainOnce() throws IOException {
        data = tmp.resolve("data.jsonl");
        Files.write(data, Files.readAllLines(Path.of("models/datasets/manpages/valid.jsonl")).subList(0, 24));
        run = tmp.resolve("run");
        CliTest.Run r = cli(train(run));
        assertEquals(0, r.code(), r.err());
    }

    static Path copyOfRun(String name) throws IOException {
        Path dst = tmp.resolve(name);
        try (Stream<Path> s = Files.walk(run)) {
            for (Path p : s.toList()) {
                Path t = dst.resolve(run.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else if (!p.getFileName().toString().equals(".lock")) {
                    Files.copy(p, t);
                }
            }
        }
        return dst;
    }

    // ---- --force replaces run files only ------------------------------------------------------------

    @Test
    void forceKeepsTheUsersFilesAndTheInputsInsideTheRunFolder() throws IOException {
        Path r = copyOfRun("force-keeps");
        Files.writeString(r.resolve("notes.txt"), "my notes");
        Files.createDirectories(r.resolve("sub"));
        Files.writeString(r.resolve("sub/thesis.tex"), "\\chapter{}");
        Path tok = Files.copy(Fixtures.tokenizer(), r.resolve("tokenizer.json"));
        Path trainFile = Files.copy(data, r.resolve("train.jsonl"));
        List<String> args = with(with(train(r), "--tokenizer", tok.toString()), "--train", trainFile.toString());
        CliTest.Run t = cli(args, "--force");
        assertEquals(0, t.code(), t.err());
        assertEquals("my notes", Files.readString(r.resolve("notes.txt")));
        assertEquals("\\chapter{}", Files.readString(r.resolve("sub/thesis.tex")));
        assertArrayEquals(Files.readAllBytes(Fixtures.tokenizer()), Files.readAllBytes(tok));
        assertArrayEquals(Files.readAllBytes(data), Files.readAllBytes(trainFile));
        assertTrue(Files.exists(r.resolve("summary.json")) && Files.exists(r.resolve("checkpoints/step-00000002")));
    }

    @Test
    void aFolderThatHoldsNoRunIsNeverReplaced() throws IOException {
        Path d = Files.createDirectories(tmp.resolve("thesis"));
        Files.writeString(d.resolve("notes.txt"), "my notes");
        CliTest.Run t = cli(train(d), "--force");
        CliTest.assertOneLineError(t, 3, "not a run folder", "notes.txt");
        assertEquals("my notes", Files.readString(d.resolve("notes.txt")));
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(1, s.count(), "nothing may be created in a folder that is refused");
        }
        CliTest.assertOneLineError(cli(train(d), "--resume"), 2, "not a run folder", "notes.txt");
    }

    @Test
    void outThatIsAFileIsOneLine() throws IOException {
        Path f = Files.writeString(tmp.resolve("a-file"), "x");
        CliTest.assertOneLineError(cli(train(f)), 3, "a-file", "is a file");
        CliTest.assertOneLineError(cli(train(f), "--force"), 3, "a-file", "is a file");
        assertEquals("x", Files.readString(f));
    }

    @Test
    void forceNeverDeletesTheModelItTrainsFrom() throws IOException {
        Path r = copyOfRun("model-inside");
        byte[] before = Files.readAllBytes(r.resolve("model.onnx"));
        CliTest.Run t = cli(with(train(r), "--model", r.resolve("model.onnx").toString()), "--force");
        CliTest.assertOneLineError(t, 2, "model.onnx", "never modifies its inputs");
        assertArrayEquals(before, Files.readAllBytes(r.resolve("model.onnx")));
        assertTrue(Files.exists(r.resolve("artifacts/frozen_weights.data")));
    }

    // ---- one writer ---------------------------------------------------------------------------------

    @Test
    void aSecondWriterIsRefusedNamingTheHolder() throws IOException {
        Path r = copyOfRun("locked");
        try (RunLock held = RunLock.acquire(r.resolve(".lock"), r)) {
            CliTest.Run t = cli(train(r), "--force");
            CliTest.assertOneLineError(t, 3, "in use", "pid " + ProcessHandle.current().pid());
            CliTest.assertOneLineError(cli(train(r), "--resume"), 3, "in use");
        }
        assertTrue(Files.exists(r.resolve("checkpoints/step-00000002")), "the refused writer touched the run");
    }

    // ---- resume checks every setting ----------------------------------------------------------------

    @Test
    void resumeNamesTheFirstSettingThatDiffers() {
        CliTest.assertOneLineError(cli(train(run), "--resume", "--rank", "16"), 2, "--rank was 8, now 16");
        CliTest.assertOneLineError(cli(train(run), "--resume", "--target", "q_proj"), 2, "--target was q_proj,v_proj, now q_proj");
        CliTest.assertOneLineError(cli(train(run), "--resume", "--alpha", "8"), 2, "--alpha was 16.0, now 8.0");
        CliTest.assertOneLineError(cli(with(train(run), "--model", Fixtures.dynamo().toString()), "--resume"), 2,
                "--model has other content");
        CliTest.assertOneLineError(cli(with(train(run), "--batch-size", "8"), "--resume"), 2, "--batch-size was 4, now 8");
        CliTest.assertOneLineError(cli(train(run), "--resume", "--valid", data.toString()), 2,
                "--valid was not given when the run started, now it is");
    }

    @Test
    void dataEditedInPlaceIsDetected() throws IOException {
        byte[] original = Files.readAllBytes(data);
        try {
            byte[] edited = original.clone();
            int i = new String(original, StandardCharsets.ISO_8859_1).indexOf("\"target\"") + 12;
            edited[i] = (byte) (edited[i] == 'x' ? 'y' : 'x'); // same size, same path
            Files.write(data, edited);
            CliTest.assertOneLineError(cli(train(run), "--resume"), 2, "--train has other content");
        } finally {
            Files.write(data, original);
        }
    }

    @Test
    void aFinishedRunSaysSoAndCanBeExtended() throws IOException {
        // the library says what to do, the CLI which flags do it
        CliTest.assertOneLineError(cli(train(run)), 3, "already holds a run with checkpoints; resume it to continue it,"
                + " or replace it (--resume continues a run, --force replaces it)");
        CliTest.Run done = cli(train(run), "--resume");
        assertEquals(0, done.code(), done.err());
        JsonObject s = JsonParser.parseString(done.out()).getAsJsonObject();
        assertEquals(2, s.get("steps").getAsLong());

        Path r = copyOfRun("finished-no-summary");
        Files.delete(r.resolve("summary.json")); // killed after the last checkpoint, before the summary
        CliTest.Run again = cli(train(r), "--resume");
        assertEquals(0, again.code(), again.err());
        assertTrue(JsonParser.parseString(again.out()).getAsJsonObject().get("train_loss").isJsonNull(), again.out());

        CliTest.Run longer = cli(loud(with(train(r), "--steps", "3")), "--resume");
        assertEquals(0, longer.code(), longer.err());
        assertTrue(longer.err().contains("from 2 to 3 steps"), longer.err());
        assertEquals(3, Files.readAllLines(r.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).count());
        CliTest.assertOneLineError(cli(with(train(r), "--steps", "2"), "--resume"), 2, "step 3", "past the 2 steps");
    }

    @Test
    void aRunKilledDuringSetUpRestartsWithoutForce() throws IOException {
        for (List<String> how : List.of(List.<String>of(), List.of("--resume"))) {
            Path r = copyOfRun("setup-killed" + how.size());
            // as left by a kill while compiling: run.json written, artifacts half done, nothing trained
            org.onnxlora.io.FileTrees.delete(r.resolve("checkpoints"));
            Files.delete(r.resolve("summary.json"));
            Files.delete(r.resolve("metrics.jsonl"));
            Files.delete(r.resolve("artifacts/artifacts.json"));
            Files.delete(r.resolve("model.onnx"));
            CliTest.Run t = cli(train(r), how.toArray(String[]::new));
            assertEquals(0, t.code(), how + ": " + t.err());
            assertTrue(Files.exists(r.resolve("checkpoints/step-00000002")), how.toString());
        }
    }

    @Test
    void strayTemporariesOfAKilledRunAreCleaned() throws IOException {
        Path r = copyOfRun("strays");
        Path step = Files.createDirectories(r.resolve("checkpoints/.step-00000003.8812734"));
        Files.writeString(step.resolve("adapters.safetensors"), "half");
        Path latestTmp = Files.writeString(r.resolve("checkpoints/.latest.123.tmp"), "step-0000");
        Path infoTmp = Files.writeString(r.resolve(".run.json.42.tmp"), "{");
        Path weightsTmp = Files.writeString(r.resolve("artifacts/.frozen_weights.data.7.tmp"), "");
        CliTest.Run t = cli(train(r), "--resume");
        assertEquals(0, t.code(), t.err());
        for (Path p : List.of(step, latestTmp, infoTmp, weightsTmp)) {
            assertFalse(Files.exists(p), p + " left behind");
        }
    }

    // ---- damaged checkpoints ------------------------------------------------------------------------

    @Test
    void aDamagedLatestPointerFallsBackToTheNewestCompleteCheckpoint() throws IOException {
        Path r = copyOfRun("latest-empty");
        Files.writeString(r.resolve("checkpoints/latest"), "");
        Files.delete(r.resolve("summary.json"));
        CliTest.Run t = cli(loud(with(train(r), "--steps", "3")), "--resume");
        assertEquals(0, t.code(), t.err());
        assertTrue(t.err().contains("latest is empty") && t.err().contains("step-00000002"), t.err());
        assertEquals(3, Files.readAllLines(r.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).count(), "did not continue from step 2");
    }

    @Test
    void aCorruptStateIsOneLineNamingTheFile() throws IOException {
        Path r = copyOfRun("state-corrupt");
        Path state = r.resolve("checkpoints/step-00000002/state.json");
        String good = Files.readString(state);
        for (String bad : List.of("", "{}", good.replace("\"step\": 2", "\"step\": -5"),
                good.replace("\"step\": 2", "\"step\": 1e30"), good.replaceAll("\"fingerprint\": \"[0-9a-f]+\"",
                        "\"fingerprint\": null"))) {
            Files.writeString(state, bad);
            CliTest.assertOneLineError(cli(train(r), "--resume"), 3, "state.json", "damaged");
        }
        // a huge batch index parses but does not follow from the step
        Files.writeString(state, good.replaceAll("\"batchIndex\": \\d+", "\"batchIndex\": 9000000000000"));
        CliTest.assertOneLineError(cli(with(train(r), "--steps", "3"), "--resume"), 3, "state.json", "batch 9000000000000");
        Files.writeString(state, good);
        Files.delete(r.resolve("checkpoints/step-00000002/optimizer.safetensors"));
        CliTest.assertOneLineError(cli(with(train(r), "--steps", "3"), "--resume"), 3, "optimizer.safetensors", "missing");
    }

    // ---- --force never replaces an input, in any command ----------------------------------------------

    @Test
    void forceReplacesOutputsNeverInputs() throws IOException {
        Path model = run.resolve("model.onnx");
        Path adapters = run.resolve("checkpoints/step-00000002/adapters.safetensors");
        byte[] adapterBytes = Files.readAllBytes(adapters);
        byte[] weights = Files.readAllBytes(run.resolve("artifacts/frozen_weights.data"));
        CliTest.assertOneLineError(CliTest.run("merge", "--model", model.toString(), "--adapter", adapters.toString(),
                "--out", adapters.toString(), "--force"), 2, "adapters.safetensors", "input itself");
        CliTest.assertOneLineError(CliTest.run("merge", "--model", model.toString(), "--adapter", run.toString(),
                "--out", run.resolve("artifacts/frozen_weights.data").toString(), "--force"), 2,
                "frozen_weights.data", "external data");
        // a new file beside the run's files is an output like any other, and may be replaced
        for (int i = 0; i < 2; i++) {
            CliTest.Run m = CliTest.run("merge", "--model", model.toString(), "--adapter", run.toString(),
                    "--out", run.resolve("merged.onnx").toString(), "--force");
            assertEquals(0, m.code(), m.err());
        }
        Path peft = tmp.resolve("peft-out");
        assertEquals(0, CliTest.run("export-adapter", "--adapter", run.toString(), "--format", "peft", "--out",
                peft.toString()).code());
        CliTest.assertOneLineError(CliTest.run("export-adapter", "--adapter", peft.toString(), "--model", model.toString(),
                "--format", "peft", "--out", peft.toString(), "--force"), 2, "peft-out");
        CliTest.assertOneLineError(CliTest.run("export-adapter", "--adapter", run.toString(), "--format", "onnx-adapter",
                "--out", run.toString(), "--force"), 2, "never modifies");
        CliTest.assertOneLineError(CliTest.run("patch", "--model", Fixtures.torchscript().toString(), "--from-peft",
                peft.toString(), "--out", peft.resolve("adapter_model.safetensors").toString(), "--force"), 2,
                "adapter_model.safetensors");
        CliTest.assertOneLineError(CliTest.run("compile", "--model", model.toString(), "--out", run.toString(),
                "--force"), 2, "never modifies");
        Path tok = Files.copy(Fixtures.tokenizer(), tmp.resolve("tok-in.json"));
        CliTest.assertOneLineError(CliTest.run("generate", "--model", model.toString(), "--tokenizer", tok.toString(),
                "--input", data.toString(), "--out", tok.toString(), "--force"), 2, "tok-in.json", "input itself");
        Path link = tmp.resolve("link.safetensors");
        Files.createSymbolicLink(link, adapters);
        CliTest.assertOneLineError(CliTest.run("merge", "--model", model.toString(), "--adapter", adapters.toString(),
                "--out", link.toString(), "--force"), 2, "link.safetensors");
        assertArrayEquals(adapterBytes, Files.readAllBytes(adapters));
        assertArrayEquals(weights, Files.readAllBytes(run.resolve("artifacts/frozen_weights.data")));
        assertArrayEquals(Files.readAllBytes(Fixtures.tokenizer()), Files.readAllBytes(tok));
    }

    @Test
    void theRunsModelFolderIsNeverRewrittenOverAnInput() throws IOException {
        Path run = Files.createDirectories(tmp.resolve("folder-over-input"));
        Path model = Files.createDirectories(run.resolve("model"));
        Files.writeString(model.resolve("encoder_model.onnx"), "the user's");
        org.onnxlora.run.RunDirectory dir = org.onnxlora.run.RunDirectory.at(run);
        org.onnxlora.OnnxLoraException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.onnxlora.OnnxLoraException.class, () -> dir.writeModelFolder(out -> {
                    throw new AssertionError("nothing may be written");
                }, List.of(model)));
        assertTrue(e.getMessage().contains("would be deleted"), e.getMessage());
        assertEquals("the user's", Files.readString(model.resolve("encoder_model.onnx")));

        // not an input: a leftover is replaced by what was written whole, and no partial folder stays
        dir.writeModelFolder(out -> {
            try {
                Files.createDirectories(out);
                Files.writeString(out.resolve("encoder_model.onnx"), "patched");
            } catch (IOException x) {
                throw new java.io.UncheckedIOException(x);
            }
        }, List.of());
        assertEquals("patched", Files.readString(model.resolve("encoder_model.onnx")));
        assertFalse(Files.exists(run.resolve("model.partial")));
    }
}
