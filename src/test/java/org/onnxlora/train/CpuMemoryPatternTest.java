package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.data.Batch;
import org.onnxlora.runtime.GpuMemory;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * CPU sessions plan no memory pattern by default ({@code GpuMemory.settingsOn}): where each tensor lives
 * changes, not what is computed, so training steps agree to the bit with ONNX Runtime's default planning, batch
 * shape after batch shape.
 */
class CpuMemoryPatternTest {
    @TempDir
    static Path tmp;

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void stepsWithoutTheMemoryPatternEqualStepsWithItToTheBit(Path model) {
        Path dir = tmp.resolve("art-" + model.getFileName());
        ArtifactStore.write(new TrainingCompiler().compile(HeadCopyPassTest.patchedWithRandomAdapters(model),
                TrainingCompiler.Options.defaults()), TrainingCompiler.Options.defaults(), dir);
        List<Batch> batches = List.of(HeadCopyPassTest.randomBatch(4, 8, 6, 4), HeadCopyPassTest.randomBatch(4, 8, 6, 5),
                HeadCopyPassTest.randomBatch(3, 11, 5, 1), HeadCopyPassTest.randomBatch(4, 8, 6, 6));
        RuntimeOptions unplanned = RuntimeOptions.defaults().withThreads(2);
        RuntimeOptions planned = unplanned.withGpuMemory(GpuMemory.FAST);
        assertEquals(Optional.of(false), unplanned.memoryPattern(), "the CPU's default");
        assertEquals(Optional.empty(), planned.memoryPattern(), "ONNX Runtime's own: the pattern on");
        List<float[]> want = HeadCopyPassTest.train(dir, planned, batches);
        List<float[]> got = HeadCopyPassTest.train(dir, unplanned, batches);
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), "step or adapter " + i);
        }
        for (int k = 0; k < batches.size(); k++) {
            assertTrue(want.get(k)[2] > 0, "step " + k + " has gradients: norm " + want.get(k)[2]);
        }
    }
}
