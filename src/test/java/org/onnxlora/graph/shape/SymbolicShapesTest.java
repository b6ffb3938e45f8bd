package org.onnxlora.graph.shape;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/** The algebra of dims and the rules that must not guess. */
class SymbolicShapesTest {
    private static final Dim B = Dim.symbol("b");
    private static final Dim S = Dim.symbol("s");

    @Test
    void dimsArePolynomials() {
        Dim d = B.times(S).times(Dim.of(4)).plus(Dim.of(2));
        assertEquals("4*b*s + 2", d.toString());
        assertEquals(4 * 3 * 5 + 2, d.evaluate(Map.of("b", 3L, "s", 5L)));
        assertEquals(B.times(S), S.times(B));
        assertEquals(B.times(Dim.of(4)), d.minus(Dim.of(2)).exactlyDividedBy(S).orElseThrow());
        assertTrue(d.exactlyDividedBy(S).isEmpty(), "the constant term is not divisible by s");
        assertTrue(B.times(Dim.of(6)).exactlyDividedBy(Dim.of(4)).isEmpty());
        assertTrue(B.minus(B).isConstant(0));
    }

    private static NodeProto node(String op, List<String> in, String out) {
        return NodeProto.newBuilder().setOpType(op).addAllInput(in).addOutput(out).build();
    }

    private static GraphProto.Builder graph() {
        return GraphProto.newBuilder()
                .addInput(ValueInfos.tensor("x", DataType.FLOAT_VALUE, "b", "s", 64))
                .addInput(ValueInfos.tensor("m", DataType.FLOAT_VALUE, "b2", "s"));
    }

    @Test
    void reshapeTargetsComputedFromShapesResolve() {
        GraphProto g = graph()
                .addInitializer(Tensors.ofLongs("heads", new long[] {2}, 4, 16))
                .addInitializer(Tensors.ofLongs("i0", new long[] {1}, 0))
                .addInitializer(Tensors.ofLongs("minus1", new long[] {1}, -1))
                .addNode(node("Shape", List.of("x"), "sx"))
                .addNode(node("Gather", List.of("sx", "i0"), "batch"))
                .addNode(node("Concat", List.of("batch", "minus1", "heads"), "target"))
                .addNode(node("Reshape", List.of("x", "target"), "y"))
                .build();
        SymbolicShapes s = SymbolicShapes.infer(g);
        assertEquals(List.of(B, S, Dim.of(4), Dim.of(16)), s.shape("y"));
        assertEquals(List.of(B, Dim.of(-1), Dim.of(4), Dim.of(16)), s.elements("target"));
    }

    @Test
    void undecidedBroadcastsGetTheirOwnSymbol() {
        GraphProto g = graph()
                .addNode(node("Unsqueeze", List.of("m", "axis"), "m3"))
                .addInitializer(Tensors.ofLongs("axis", new long[] {1}, 2))
                .addNode(node("Add", List.of("x", "m3"), "y"))
                .addNode(node("Add", List.of("x", "m3"), "z"))
                .addNode(node("Einsum", List.of("x"), "unknown"))
                .build();
        SymbolicShapes s = SymbolicShapes.infer(g);
        Dim batch = s.shape("y").get(0);
        assertTrue(SymbolicShapes.isFresh(batch.asSymbol()), "b against b2 is b, b2 or 1: " + batch);
        assertNotEquals(batch, s.shape("z").get(0), "two undecided dims are not known equal");
        assertEquals(List.of(S, Dim.of(64)), s.shape("y").subList(1, 3));
        assertNull(s.shape("unknown"), "an op without a rule has no shape");

        SymbolicShapes contract = SymbolicShapes.infer(g, Map.of("m", List.of("b", "s")));
        assertEquals(List.of(B, S, Dim.of(64)), contract.shape("y"));
    }

    @Test
    void comparisonsOfSizesAreDecidedOnlyWhenProvable() {
        GraphProto g = graph()
                .addInitializer(Tensors.ofLongs("minus1", new long[] {1}, -1))
                .addInitializer(Tensors.ofLongs("one", new long[] {1}, 1))
                .addNode(node("Shape", List.of("x"), "sx"))
                .addNode(node("Equal", List.of("sx", "minus1"), "isMinus1"))
                .addNode(node("Equal", List.of("sx", "one"), "isOne"))
                .build();
        SymbolicShapes s = SymbolicShapes.infer(g);
        assertEquals(List.of(Dim.of(0), Dim.of(0), Dim.of(0)), s.elements("isMinus1"));
        assertEquals(java.util.Arrays.asList(null, null, Dim.of(0)), s.elements("isOne"), "b or s may be 1");
    }

    @Test
    void anInitializerDeclaredAsInputIsOnlyADefault() {
        GraphProto g = graph()
                .addInput(ValueInfos.tensor("target", DataType.INT64_VALUE, 4))
                .addInitializer(Tensors.ofLongs("target", new long[] {4}, 0, 0, 4, 16))
                .addNode(node("Reshape", List.of("x", "target"), "y"))
                .build();
        SymbolicShapes s = SymbolicShapes.infer(g);
        assertNull(s.elements("target"), "a caller may feed another target");
        assertEquals(4, s.rank("y"));
        assertTrue(SymbolicShapes.isFresh(s.shape("y").get(2).asSymbol()));
    }
}
