package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
        Path dir = BitwiseSteps.compiledWithRandomAdapters(model, tmp.resolve("art-" + model.getFileName()));
        List<Batch> batches = List.of(BitwiseSteps.randomBatch(4, 8, 6, 4), BitwiseSteps.randomBatch(4, 8, 6, 5),
                BitwiseSteps.randomBatch(3, 11, 5, 1), BitwiseSteps.randomBatch(4, 8, 6, 6));
        RuntimeOptions unplanned = RuntimeOptions.defaults().withThreads(2);
        RuntimeOptions planned = unplanned.withGpuMemory(GpuMemory.FAST);
        assertEquals(Optional.of(false), unplanned.memoryPattern(), "the CPU's default");
        assertEquals(Optional.empty(), planned.memoryPattern(), "ONNX Runtime's own: the pattern on");
        BitwiseSteps.assertSameToTheBit(BitwiseSteps.train(dir, planned, batches), BitwiseSteps.train(dir, unplanned,
                batches), batches.size());
    }
}
