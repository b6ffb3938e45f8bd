package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.testing.ChildJvm;
import org.onnxlora.testing.Fixtures;

/**
 * A training process killed with SIGKILL, or stopped with Ctrl-C (SIGINT), resumes and ends exactly where an
 * uninterrupted run does; while it runs, its folder has no second writer. These need a process and its
 * signals; resume and the settings check as such are tested through the library ({@code api.TrainingRunTest}).
 */
class TrainResumeTest {
    @TempDir
    static Path shared;
    /** The uninterrupted run both interrupted ones are compared with. */
    static Path reference;

    @TempDir
    Path tmp;

    @BeforeAll
    static void referenceRun() {
        reference = shared.resolve("reference");
        CliTest.Run r = CliTest.run(trainArgs(reference).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
    }

    static Process startChild(Path out, Path log) throws java.io.IOException {
        List<String> cmd = new ArrayList<>(ChildJvm.cli());
        cmd.addAll(trainArgs(out));
        cmd.remove("-q"); // the interrupted run's messages are part of what is checked
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    static void awaitCheckpoint(Process p, Path dir, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (!Files.exists(dir) && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(p.isAlive(), "the run finished before it could be interrupted: " + Files.readString(log));
    }

    static void assertSameAdapters(Path want, Path got) {
        org.onnxlora.api.TrainingRunTest.assertSameAdapters(want, got);
    }

    static List<String> trainArgs(Path out) {
        return List.of("train", "--model", Fixtures.torchscript().toString(), "--tokenizer", Fixtures.tokenizer().toString(),
                "--train", "models/datasets/manpages/train.jsonl", "--valid", "models/datasets/manpages/valid.jsonl",
                "--out", out.toString(), "--batch-size", "8", "--lr", "2e-3", "--steps", "40", "--warmup", "5",
                "--save-every", "4", "--eval-every", "20", "--threads", "2", "--seed", "7", "-q");
    }

    @Test
    void sigkilledRunResumesBitIdentical() throws Exception {
        Path killed = tmp.resolve("killed");
        Path log = tmp.resolve("killed.log");
        Process p = startChild(killed, log);
        awaitCheckpoint(p, killed.resolve("checkpoints").resolve("step-00000012"), log);
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
        assertFalse(Files.exists(killed.resolve("checkpoints").resolve("step-00000040")), "run was not interrupted");

        List<String> resume = new ArrayList<>(trainArgs(killed));
        resume.add("--resume");
        CliTest.Run r = CliTest.run(resume.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());

        assertSameAdapters(reference, killed);
        // the resumed metrics cover every step exactly once
        long trainLines = Files.readAllLines(killed.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).count();
        assertEquals(40, trainLines);
    }

    @Test
    void ctrlCFinishesTheStepCheckpointsAndExits130() throws Exception {
        Path run = tmp.resolve("interrupted");
        Path log = tmp.resolve("interrupted.log");
        Process p = startChild(run, log);
        awaitCheckpoint(p, run.resolve("checkpoints").resolve("step-00000008"), log);

        // a second writer, even with --force, is refused while the first one runs, naming its pid
        List<String> second = new ArrayList<>(trainArgs(run));
        second.add("--force");
        CliTest.assertOneLineError(CliTest.run(second.toArray(String[]::new)), 3, "in use", "pid " + p.pid());

        Process kill = new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start();
        assertEquals(0, kill.waitFor());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the interrupted run did not stop");
        String out = Files.readString(log);
        assertEquals(130, p.exitValue(), out);
        assertTrue(out.contains("interrupted after step"), out);
        String step = out.replaceAll("(?s).*interrupted after step (\\d+) of 40.*", "$1");
        Path ck = run.resolve("checkpoints").resolve(String.format("step-%08d", Long.parseLong(step)));
        assertTrue(out.contains(ck.toString()), "the message does not say where the checkpoint is: " + out);
        assertTrue(Files.exists(ck.resolve(Checkpoint.STATE)), ck + " was not written");
        assertTrue(Long.parseLong(step) < 40, out);

        List<String> resume = new ArrayList<>(trainArgs(run));
        resume.add("--resume");
        CliTest.Run r = CliTest.run(resume.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertSameAdapters(reference, run);
    }
}
