package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;

/** Both exporters' decomposed GELU becomes one com.microsoft:Gelu, and the model computes the same. */
class GeluFusionPassTest {

    static long count(GraphProto g, String op) {
        return g.getNodeList().stream().filter(n -> n.getOpType().equals(op)).count();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void fusesEveryGeluAndKeepsTheOutputs(Path model) {
        ModelProto base = ModelIO.load(model);
        assertEquals(4, count(base.getGraph(), "Erf"));
        GraphProto fused = GeluFusionPass.apply(base.getGraph());
        assertEquals(0, count(fused, "Erf"));
        assertEquals(4, count(fused, "Gelu"));
        long constants = base.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("Constant")).count()
                - fused.getNodeList().stream().filter(n -> n.getOpType().equals("Constant")).count();
        // five nodes become one, and their scalar constants go with them
        assertEquals(base.getGraph().getNodeCount() - 4 * 4 - constants, fused.getNodeCount());
        assertEquals(0, fused.getInitializerList().stream().filter(t -> new org.onnxlora.graph.GraphIndex(fused)
                .consumersOf(t.getName()).isEmpty()).count() - base.getGraph().getInitializerList().stream()
                .filter(t -> new org.onnxlora.graph.GraphIndex(base.getGraph()).consumersOf(t.getName()).isEmpty()).count());
        ModelProto m = base.toBuilder().setGraph(fused).addOpsetImport(
                org.onnxlora.proto.Onnx.OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1)).build();
        double d = new Verifier(RuntimeOptions.defaults().withOptimize(false)).compare(base, m, 2, 4).maxAbs();
        org.junit.jupiter.api.Assertions.assertTrue(d <= 1e-4, "fused model differs by " + d);
    }
}
