package org.onnxlora.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.run.RunSummary;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/** Resume, stop and the settings check, driven through the library API (no command line). */
public class TrainingRunTest {
    @TempDir
    Path tmp;

    static TrainOptions options(long steps) {
        return TrainOptions.defaults(Fixtures.torchscript(), Fixtures.tokenizer(),
                Path.of("models/datasets/manpages/train.jsonl"), steps)
                .withValid(Path.of("models/datasets/manpages/valid.jsonl")).withBatch(8, 1)
                .withSchedule(2e-3, 2, "linear").withCheckpoints(3, 2, 0).withSeed(7)
                .withData(DataSettings.DEFAULT.withMaxLengths(64, 16))
                .withRuntime(RuntimeOptions.defaults().withThreads(2));
    }

    /** A run stopped after a step and resumed ends with the adapters of one that never stopped. */
    @Test
    void stoppedRunResumesBitIdentical() {
        RunSummary reference = TrainingRun.create(tmp.resolve("reference"), options(6)).run().summary();
        assertEquals(6, reference.steps());

        Path run = tmp.resolve("stopped");
        List<String> notes = new ArrayList<>();
        RunListener listener = new RunListener() {
            @Override
            public void info(String line) {
                notes.add(line);
            }
        };
        int[] asked = {0};
        int[] opened = {0};
        TrainingRun.Result stopped = TrainingRun.create(run, options(6)).run(listener, () -> {
            opened[0]++;
            return () -> ++asked[0] >= 3; // asked after each step: stop after step 3
        });
        assertEquals(1, opened[0], "the stop request is opened once, around the steps");
        assertTrue(stopped.interrupted());
        assertEquals(3, stopped.summary().steps());
        assertNull(stopped.json(), "an interrupted run writes no summary");
        assertTrue(Files.exists(run.resolve("checkpoints").resolve("step-00000003")));
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("training ")), notes::toString);

        notes.clear();
        TrainingRun.Result resumed = TrainingRun.resume(run, options(6)).run(listener, StopRequest::never);
        assertEquals(6, resumed.summary().steps());
        assertTrue(notes.contains("resuming " + run + " from step 3"), notes::toString);
        assertTrue(resumed.json().contains("\"steps\": 6"), resumed.json());
        assertSameAdapters(tmp.resolve("reference"), run);

        // a finished run has nothing to train: its recorded summary comes back
        TrainingRun.Result again = TrainingRun.resume(run, options(6)).run();
        assertNull(again.summary());
        assertEquals(resumed.json(), again.json());
    }

    @Test
    void resumeOfAnotherConfigurationIsRefused() {
        Path run = tmp.resolve("run");
        TrainingRun.create(run, options(2)).run();
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> TrainingRun.resume(run, options(2).withSchedule(1e-3, 2, "linear")).run());
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("--lr was 0.002, now 0.001"), e.getMessage());
        OnnxLoraException exists = assertThrows(OnnxLoraException.class, () -> TrainingRun.create(run, options(2)).run());
        assertEquals(ErrorCode.OUTPUT_EXISTS, exists.code(), exists.getMessage());
    }

    /** The same adapter tensors, bit for bit, in two runs (or checkpoints). */
    public static void assertSameAdapters(Path want, Path got) {
        org.onnxlora.lora.AdapterValues a = TrainingRun.adapters(want);
        org.onnxlora.lora.AdapterValues b = TrainingRun.adapters(got);
        assertEquals(a.names(), b.names());
        for (String k : a.names()) {
            assertArrayEquals(a.get(k), b.get(k), k + " differs after resume");
        }
    }
}
