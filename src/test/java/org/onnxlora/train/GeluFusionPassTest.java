package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

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
        PassResult<GraphProto> r = new GeluFusionPass().apply(base.getGraph());
        assertEquals(4, r.changed().size(), "one entry per fused GELU");
        assertEquals(List.of(), r.refused());
        GraphProto fused = r.output();
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

    /** TorchScript's GELU of x [2, 3]: Mul(Mul(x, 1 + erf(x/√2)), 0.5). */
    private static TinyGraphs gelu(long seed) {
        int f = DataType.FLOAT_VALUE;
        TinyGraphs t = new TinyGraphs(seed).input("x", f, 2, 3).output("y", f, 2, 3);
        t.init(Tensors.scalar("sqrt2", Math.sqrt(2), f)).init(Tensors.scalar("one", 1, f))
                .init(Tensors.scalar("half", 0.5, f));
        t.node("Div", "/div", List.of("x", "sqrt2"), List.of("d"));
        t.node("Erf", "/erf", List.of("d"), List.of("e"));
        t.node("Add", "/add", List.of("e", "one"), List.of("a"));
        t.node("Mul", "/mul", List.of("x", "a"), List.of("m"));
        t.node("Mul", "/mul_1", List.of("m", "half"), List.of("y"));
        return t;
    }

    static final float[] X = {-2f, -0.5f, 0f, 0.3f, 1f, 3f};

    @Test
    void fusesATinyGeluExactly() throws Exception {
        ModelProto m = gelu(1).model();
        PassResult<GraphProto> r = new GeluFusionPass().apply(m.getGraph());
        assertEquals(List.of("y"), r.changed());
        assertEquals(List.of("Gelu"), r.output().getNodeList().stream().map(n -> n.getOpType()).toList());
        assertEquals(0, r.output().getInitializerCount(), "the GELU's constants go with it");
        ModelProto after = PassOrt.withMsDomain(m.toBuilder().setGraph(r.output()).build());
        float d = PassOrt.maxAbs(PassOrt.run(m, "x", X, new long[] {2, 3}, "y"),
                PassOrt.run(after, "x", X, new long[] {2, 3}, "y"));
        org.junit.jupiter.api.Assertions.assertTrue(d <= 1e-6, "fused GELU differs by " + d);
    }

    @Test
    void refusesAGeluWhoseIntermediateIsReadElsewhere() {
        TinyGraphs t = gelu(2);
        t.node("Neg", "/other_reader", List.of("d"), List.of("z")).output("z", DataType.FLOAT_VALUE, 2, 3);
        GraphProto g = t.model().getGraph();
        PassResult<GraphProto> r = new GeluFusionPass().apply(g);
        assertEquals(List.of(), r.changed());
        assertEquals(List.of(new PassResult.Refusal("'/erf' (Erf)", "x/√2 has another reader, which would lose its input")),
                r.refused());
        org.junit.jupiter.api.Assertions.assertSame(g, r.output());
    }

    @Test
    void refusesAGeluWhoseIntermediateIsAGraphOutput() {
        TinyGraphs t = gelu(3);
        t.output("d", DataType.FLOAT_VALUE, 2, 3);
        PassResult<GraphProto> r = new GeluFusionPass().apply(t.model().getGraph());
        assertEquals(List.of(), r.changed());
        assertEquals(1, r.refused().size(), "fusing would drop the graph output 'd'");
    }
}
