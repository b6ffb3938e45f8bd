package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.api.TrainingBenchmark;
import org.onnxlora.data.Batch;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * Sessions whose batch and sequence dims are fixed at the batch's shape (ONNX Runtime folds the shape
 * arithmetic) train as the symbolic graph does, to float rounding: ORT's optimizer may fuse the folded
 * graph differently.
 */
@ExtendWith(TrainingGoldens.class)
class FixedDimsTest {
    @TempDir
    static Path tmp;

    private static List<float[]> train(Path dir, RuntimeOptions o, Batch b) {
        List<float[]> out = new ArrayList<>();
        try (TrainingSession s = new TrainingSession(dir, o, TrainingSession.StepMode.FUSED)) {
            for (int k = 0; k < 3; k++) {
                TrainingSession.Step st = s.step(b, 0.01);
                out.add(new float[] {(float) st.pass().lossSum(), (float) st.gradNorm()});
            }
            for (AdapterSpec a : s.adapters()) {
                out.add(s.adapter(a.name()));
            }
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void fixedDimsTrainAsTheSymbolicGraphDoes(Path model) {
        Path dir = tmp.resolve("art-" + model.getFileName());
        ArtifactStore.write(new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model),
                TrainingCompiler.Options.defaults()), TrainingCompiler.Options.defaults(), dir);
        Batch b = TrainingParityTest.goldenBatch();
        Map<String, String> dims = TrainingBenchmark.fixedDims(dir, b.size(), b.sourceLength(), b.targetLength());
        assertTrue(dims.size() >= 3, dims.toString());
        RuntimeOptions symbolic = RuntimeOptions.defaults().withThreads(2);
        List<float[]> want = train(dir, symbolic, b);
        List<float[]> got = train(dir, symbolic.withCudaOptions(dims), b);
        for (int i = 0; i < want.size(); i++) {
            float scale = 0;
            for (float v : want.get(i)) {
                scale = Math.max(scale, Math.abs(v));
            }
            float err = PassOrt.maxAbs(want.get(i), got.get(i));
            assertTrue(err <= 1e-5f * Math.max(scale, 1e-6f), "step or adapter " + i + ": " + err + " of " + scale);
        }
        assertEquals(want.size(), got.size());
        // the dims really are fixed: a batch of another shape is refused
        Batch other = new Batch(b.size(), b.sourceLength() + 1, b.targetLength(), new long[b.size() * (b.sourceLength() + 1)],
                new long[b.size() * (b.sourceLength() + 1)], b.decoderInputIds(), b.labels());
        try (TrainingSession s = new TrainingSession(dir, symbolic.withCudaOptions(dims), TrainingSession.StepMode.FUSED)) {
            RuntimeException e = org.junit.jupiter.api.Assertions.assertThrows(RuntimeException.class, () -> s.step(other, 0.01));
            assertTrue(String.valueOf(e.getMessage()).contains("dimension"), e.getMessage());
        }
    }
}
