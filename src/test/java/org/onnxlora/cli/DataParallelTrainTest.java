package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.ChildJvm;

/**
 * {@code train --devices cpu,cpu}: two sessions in one process train as one run, with its
 * checkpoints, metrics and resume; a run killed with SIGKILL resumes bit-identical to an
 * uninterrupted two-device run; an unknown device stops the command in one line before any work.
 */
class DataParallelTrainTest {
    @TempDir
    Path tmp;

    static List<String> args(Path out) {
        List<String> a = new ArrayList<>(TrainResumeTest.trainArgs(out));
        a.addAll(List.of("--devices", "cpu,cpu"));
        a.set(a.indexOf("--threads") + 1, "1");
        return a;
    }

    @Test
    void sigkilledTwoDeviceRunResumesBitIdentical() throws Exception {
        Path reference = tmp.resolve("reference");
        CliTest.Run ref = CliTest.run(args(reference).toArray(String[]::new));
        assertEquals(0, ref.code(), ref.err());
        long trainLines = Files.readAllLines(reference.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).count();
        assertEquals(40, trainLines, "one run's metrics: a line per step, not per device");
        assertTrue(Files.readAllLines(reference.resolve("metrics.jsonl")).stream()
                .filter(l -> l.contains("\"event\":\"train\"")).allMatch(l -> l.contains("\"allreduce_seconds\":")),
                "every step of a two-device run says how long its gradient sum took");

        Path killed = tmp.resolve("killed");
        Path log = tmp.resolve("killed.log");
        List<String> cmd = new ArrayList<>(ChildJvm.cli());
        cmd.addAll(args(killed));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        TrainResumeTest.awaitCheckpoint(p, killed.resolve("checkpoints").resolve("step-00000012"), log);
        p.destroyForcibly(); // SIGKILL
        p.waitFor(30, TimeUnit.SECONDS);
        assertFalse(Files.exists(killed.resolve("checkpoints").resolve("step-00000040")), "run was not interrupted");

        List<String> resume = args(killed);
        resume.add("--resume");
        CliTest.Run r = CliTest.run(resume.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        TrainResumeTest.assertSameAdapters(reference, killed);
    }

    @Test
    void anUnknownDeviceIsOneLineBeforeAnyWork() {
        Path out = tmp.resolve("never");
        List<String> a = args(out);
        a.set(a.indexOf("--devices") + 1, "cpu,tpu:3");
        CliTest.assertOneLineError(CliTest.run(a.toArray(String[]::new)), 2, "tpu:3");
        assertFalse(Files.exists(out.resolve("checkpoints")), "work started before the device was checked");
    }
}
