package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/** What ONNX Runtime keeps after optimizing the training graph: no second copy of any frozen weight. */
@ExtendWith(TrainingGoldens.class)
class TrainingGraphMemoryTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void optimizedTrainingGraphHoldsEachFrozenWeightOnce(Path model) {
        TrainingCompiler.Options opts = TrainingCompiler.Options.defaults();
        TrainingCompiler.Artifacts art = new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model), opts);
        Path dir = tmp.resolve("artifacts");
        ArtifactStore.write(art, opts, dir);
        // weight bytes the forward really has, by content size
        Map<Long, Integer> frozenSizes = new HashMap<>();
        long frozenBytes = 0;
        for (TensorProto t : art.training().getGraph().getInitializerList()) {
            if (t.getRawData().size() >= FrozenWeights.MIN_BYTES) {
                frozenSizes.merge((long) t.getRawData().size(), 1, Integer::sum);
                frozenBytes += t.getRawData().size();
            }
        }
        Path optimized = dir.resolve("training_model.optimized.onnx"); // beside its external data
        TrainingSession.writeOptimizedTrainingGraph(dir, RuntimeOptions.defaults().withThreads(2), optimized);
        ModelProto o = ModelIO.load(optimized);
        long bigBytes = 0;
        List<String> extra = new ArrayList<>();
        for (TensorProto t : o.getGraph().getInitializerList()) {
            long size = org.onnxlora.io.Tensors.byteSize(t);
            if (size >= FrozenWeights.MIN_BYTES) {
                bigBytes += size;
                if (art.training().getGraph().getInitializerList().stream().noneMatch(x -> x.getName().equals(t.getName()))) {
                    extra.add(t.getName() + " " + t.getDimsList());
                }
            }
        }
        assertTrue(extra.isEmpty(), "ORT created weight copies: " + extra);
        assertTrue(bigBytes <= frozenBytes, "optimized graph holds " + bigBytes + " weight bytes, forward has " + frozenBytes);
        for (NodeProto n : o.getGraph().getNodeList()) {
            if (n.getOpType().equals("Transpose")) {
                assertTrue(n.getInputList().stream().noneMatch(in -> o.getGraph().getInitializerList().stream()
                        .anyMatch(t -> t.getName().equals(in) && org.onnxlora.io.Tensors.byteSize(t) >= FrozenWeights.MIN_BYTES)),
                        "Transpose of a frozen weight left in the graph: " + n.getName());
            }
        }
        assertEquals(0, extra.size());
    }
}
