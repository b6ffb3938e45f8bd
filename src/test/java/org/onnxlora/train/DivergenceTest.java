package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.data.Batch;
import org.onnxlora.data.DataPosition;
import org.onnxlora.data.BatchSource;
import org.onnxlora.run.Checkpoint;

/** A NaN loss stops training with a clear message and leaves the last good checkpoint in place. */
class DivergenceTest {
    @TempDir
    Path tmp;

    @Test
    void nanLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws Exception {
        TrainingParityTest.load();
        try {
            TrainingCompiler.Options opts = TrainingCompiler.Options.defaults();
            Path art = tmp.resolve("artifacts");
            ArtifactStore.write(new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(
                    Fixtures.torchscript()), opts), opts, art);
            Batch batch = TrainingParityTest.goldenBatch();
            try (TrainingSession s = new TrainingSession(art, RuntimeOptions.defaults().withThreads(2))) {
                String victim = s.adapters().get(0).name();
                BatchSource poisoned = new BatchSource() {
                    long served;

                    @Override
                    public Batch next() {
                        if (++served == 4) { // the 4th step sees a corrupted adapter, as after an overflow
                            float[] nan = new float[s.adapter(victim).length];
                            Arrays.fill(nan, Float.NaN);
                            s.setAdapter(victim, nan);
                        }
                        return batch;
                    }

                    @Override
                    public DataPosition position() {
                        return new DataPosition(0, served);
                    }

                    @Override
                    public void seek(DataPosition p) {
                        served = p.batch();
                    }

                    @Override
                    public long batchesPerEpoch() {
                        return 1000;
                    }
                };
                TrainConfig cfg = new TrainConfig(10, 1, new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 10), 0, 1,
                        0, 1);
                Trainer t = new Trainer(s, cfg, tmp.resolve("run"), "fp", Progress.NONE);
                OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> t.run(poisoned, List.of(), 0));
                assertEquals(ErrorCode.DIVERGED, e.code());
                assertTrue(e.getMessage().contains("step 4") && e.getMessage().contains("step-00000003"), e.getMessage());
                Path last = Checkpoint.latest(tmp.resolve("run")).orElseThrow();
                assertTrue(last.endsWith("step-00000003"), last.toString());
                Checkpoint.adapters(last).forEach((name, v) -> {
                    for (float x : v) {
                        assertTrue(Float.isFinite(x), "the kept checkpoint holds non-finite adapters");
                    }
                });
            }
        } finally {
            TrainingParityTest.close();
        }
    }

    @Test
    void nonFiniteAdaptersAreNeverCheckpointedNorCalledTheLastGoodOne() throws Exception {
        TrainingParityTest.load();
        try {
            TrainingCompiler.Options opts = TrainingCompiler.Options.defaults();
            Path art = tmp.resolve("artifacts");
            ArtifactStore.write(new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(
                    Fixtures.torchscript()), opts), opts, art);
            Batch batch = TrainingParityTest.goldenBatch();
            try (TrainingSession s = new TrainingSession(art, RuntimeOptions.defaults().withThreads(2))) {
                String victim = s.adapters().get(0).name();
                BatchSource overflowing = new BatchSource() {
                    long served;

                    @Override
                    public Batch next() {
                        served++;
                        return batch;
                    }

                    @Override
                    public DataPosition position() {
                        if (served == 3) { // the 3rd update overflowed: its loss was finite, its result is not
                            float[] inf = s.adapter(victim);
                            inf[0] = Float.POSITIVE_INFINITY;
                            s.setAdapter(victim, inf);
                        }
                        return new DataPosition(0, served);
                    }

                    @Override
                    public void seek(DataPosition p) {
                        served = p.batch();
                    }

                    @Override
                    public long batchesPerEpoch() {
                        return 1000;
                    }
                };
                TrainConfig cfg = new TrainConfig(10, 1, new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 10), 0, 1,
                        0, 1);
                Trainer t = new Trainer(s, cfg, tmp.resolve("run"), "fp", Progress.NONE);
                OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> t.run(overflowing, List.of(), 0));
                assertEquals(ErrorCode.DIVERGED, e.code());
                assertTrue(e.getMessage().contains("after step 3") && e.getMessage().contains("step-00000002"),
                        e.getMessage());
                assertTrue(Checkpoint.latest(tmp.resolve("run")).orElseThrow().endsWith("step-00000002"));
                assertTrue(!java.nio.file.Files.exists(tmp.resolve("run/checkpoints/step-00000003")),
                        "a non-finite checkpoint was written");
            }
        } finally {
            TrainingParityTest.close();
        }
    }
}
