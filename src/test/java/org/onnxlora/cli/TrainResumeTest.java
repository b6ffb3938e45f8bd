package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.train.Checkpoint;
import org.onnxlora.testing.Fixtures;

/** A training process killed with SIGKILL resumes and ends exactly where an uninterrupted run does. */
class TrainResumeTest {
    @TempDir
    Path tmp;

    static List<String> trainArgs(Path out) {
        return List.of("train", "--model", Fixtures.torchscript().toString(), "--tokenizer", Fixtures.tokenizer().toString(),
                "--train", "models/datasets/manpages/train.jsonl", "--valid", "models/datasets/manpages/valid.jsonl",
                "--out", out.toString(), "--batch-size", "8", "--lr", "2e-3", "--steps", "40", "--warmup", "5",
                "--save-every", "4", "--eval-every", "20", "--threads", "2", "--seed", "7", "-q");
    }

    @Test
    void sigkilledRunResumesBitIdentical() throws Exception {
        Path reference = tmp.resolve("reference");
        assertEquals(0, CliTest.run(trainArgs(reference).toArray(String[]::new)).code());

        Path killed = tmp.resolve("killed");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "org.onnxlora.cli.Main"));
        cmd.addAll(trainArgs(killed));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("killed.log").toFile())
                .start();
        Path mid = killed.resolve("checkpoints").resolve("step-00000012");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(mid) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the run finished before it could be killed: " + Files.readString(tmp.resolve("killed.log")));
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
        assertFalse(Files.exists(killed.resolve("checkpoints").resolve("step-00000040")), "run was not interrupted");

        List<String> resume = new ArrayList<>(trainArgs(killed));
        resume.add("--resume");
        CliTest.Run r = CliTest.run(resume.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());

        Map<String, float[]> want = Checkpoint.adapters(reference);
        Map<String, float[]> got = Checkpoint.adapters(killed);
        assertEquals(want.keySet(), got.keySet());
        for (String k : want.keySet()) {
            assertArrayEquals(want.get(k), got.get(k), k + " differs after resume");
        }
        // the resumed metrics cover every step exactly once
        long trainLines = Files.readAllLines(killed.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).count();
        assertEquals(40, trainLines);
    }

    @Test
    void resumeOfAnotherConfigurationIsRefused() {
        Path run = tmp.resolve("run");
        List<String> args = new ArrayList<>(trainArgs(run));
        args.set(args.indexOf("40"), "4");
        assertEquals(0, CliTest.run(args.toArray(String[]::new)).code());
        List<String> other = new ArrayList<>(args);
        other.set(other.indexOf("2e-3"), "1e-3");
        other.add("--resume");
        CliTest.Run r = CliTest.run(other.toArray(String[]::new));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--lr was 0.002, now 0.001"), r.err());
        CliTest.Run again = CliTest.run(args.toArray(String[]::new));
        assertEquals(3, again.code());
        assertTrue(again.err().contains("--resume") && again.err().contains("--force"), again.err());
    }
}
