package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * Artifacts written before the multi-tensor optimizer (manifest format 1, one optimizer input per
 * tensor) still train: a run resumed from its own artifact folder gets the flat optimizer rebuilt
 * from the manifest's settings, and steps exactly as freshly compiled artifacts do.
 */
@ExtendWith(TrainingGoldens.class)
class ArtifactFormatTest {
    @TempDir
    Path tmp;

    @Test
    void formatOneArtifactsGetTheFlatOptimizer() throws Exception {
        TrainingCompiler.Options opts = new TrainingCompiler.Options(LossConfig.DEFAULT,
                new OptimizerConfig(0.8, 0.99, 1e-7, 0.1, 0.5), "logits");
        Path fresh = tmp.resolve("fresh");
        ArtifactStore.write(new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(Fixtures.torchscript()),
                opts), opts, fresh);
        Path old = tmp.resolve("old");
        Files.createDirectories(old);
        try (var files = Files.list(fresh)) {
            for (Path p : files.toList()) {
                Files.copy(p, old.resolve(p.getFileName()));
            }
        }
        Path manifest = old.resolve(ArtifactStore.MANIFEST);
        String json = Files.readString(manifest);
        Files.writeString(manifest, json.replace("\"format\": " + ArtifactStore.FORMAT, "\"format\": 1"));
        // an optimizer this runner cannot feed, like format 1's per-tensor graph
        Files.write(old.resolve(ArtifactStore.OPTIMIZER), new byte[] {1, 2, 3});

        TrainingCompiler.Artifacts read = ArtifactStore.read(old);
        assertEquals(OptimizerGraph.PARAMS, read.optimizer().getGraph().getInput(0).getName());
        assertEquals(OptimizerGraph.build(read.adapters(), opts.optimizer()), read.optimizer());
        float[][] a = twoSteps(fresh);
        float[][] b = twoSteps(old);
        for (int i = 0; i < a.length; i++) {
            assertArrayEquals(a[i], b[i]);
        }
    }

    private static float[][] twoSteps(Path dir) {
        try (TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2))) {
            for (int k = 0; k < 2; k++) {
                s.forwardBackward(TrainingParityTest.goldenBatch());
                s.applyUpdate(1e-2);
            }
            float[][] out = new float[s.adapters().size()][];
            for (int i = 0; i < out.length; i++) {
                out[i] = s.adapter(s.adapters().get(i).name());
            }
            return out;
        }
    }
}
