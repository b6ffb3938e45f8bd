package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.TinyGraphs;

/** MatMul(X, Transpose(W)) becomes FusedMatMul(X, W, transB=1) where only MatMuls read the transpose. */
class TransposedWeightPassTest {
    static final int F = DataType.FLOAT_VALUE;
    static final float[] X = {0.5f, -1f, 2f, 0.25f, 1.5f, -0.75f};

    private static TinyGraphs base(long seed) {
        TinyGraphs t = new TinyGraphs(seed).input("x", F, 2, 3);
        t.init(t.random("w", F, 4, 3));
        t.node("Transpose", "/t", List.of("w"), List.of("wt"));
        t.node("MatMul", "/mm", List.of("x", "wt"), List.of("y"));
        return t.output("y", F, 2, 4);
    }

    @Test
    void rewritesTheProductAndReportsTheWeight() throws Exception {
        ModelProto m = base(1).model();
        PassResult<GraphProto> r = new TransposedWeightPass().apply(m.getGraph());
        assertEquals(List.of("w"), r.changed());
        assertEquals(List.of(), r.refused());
        assertEquals(List.of("FusedMatMul"), r.output().getNodeList().stream().map(n -> n.getOpType()).toList());
        ModelProto after = PassOrt.withMsDomain(m.toBuilder().setGraph(r.output()).build());
        float d = PassOrt.maxAbs(PassOrt.run(m, "x", X, new long[] {2, 3}, "y"),
                PassOrt.run(after, "x", X, new long[] {2, 3}, "y"));
        assertTrue(d <= 1e-6, "rewritten product differs by " + d);
    }

    @Test
    void refusesATransposeAnotherOpReads() {
        TinyGraphs t = base(2);
        t.node("Identity", "/copy", List.of("wt"), List.of("z")).output("z", F, 3, 4);
        GraphProto g = t.model().getGraph();
        PassResult<GraphProto> r = new TransposedWeightPass().apply(g);
        assertEquals(List.of(), r.changed());
        assertEquals(1, r.refused().size());
        assertEquals("w", r.refused().get(0).subject());
        assertTrue(r.refused().get(0).reason().contains("'/copy' (Identity)"), r.refused().get(0).reason());
        assertSame(g, r.output());
    }
}
