package org.onnxlora.autodiff;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.onnxlora.autodiff.Models.list;
import static org.onnxlora.autodiff.Models.node;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.autodiff.rules.StandardRules;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

class BackpropTest {
    private static final int F64 = DataType.DOUBLE_VALUE;

    /** x·A·B → + bias → + x·A (fan-out: x·A feeds two nodes) → LayerNorm → Softmax, against finite differences. */
    @Test
    void chainWithFanOutMatchesFiniteDifferences() {
        GradCheck c = GradCheck.float64();
        long[] xs = {2, 3, 4};
        c.frozen("x", xs, c.random(xs, -1, 1)).input("A", 4, 5).input("B", 5, 5).input("bias", 5)
                .constant(Tensors.ofDoubles("gamma", new long[] {5}, c.random(new long[] {5}, 0.5, 1.5), F64))
                .constant(Tensors.ofDoubles("beta", new long[] {5}, c.random(new long[] {5}, -1, 1), F64))
                .node(node("MatMul", list("x", "A"), list("h")))
                .node(node("MatMul", list("h", "B"), list("u")))
                .node(node("Add", list("u", "bias"), list("v")))
                .node(node("Add", list("v", "h"), list("w")))
                .node(node("LayerNormalization", list("w", "gamma", "beta"), list("n")))
                .node(node("Softmax", list("n"), list("Y")))
                .run();
    }

    /** A LoRA branch, x·A·B·s, and an attention-like scaled product: the scalar Muls fold into the products' alpha. */
    @Test
    void scalarScalesFoldIntoTheProducts() {
        GradCheck c = GradCheck.float64();
        long[] xs = {2, 3, 4};
        c.frozen("x", xs, c.random(xs, -1, 1)).input("A", 4, 2).input("B", 2, 4).input("K", 2, 4, 3)
                .constant(Tensors.ofDoubles("s", new long[0], new double[] {2.0}, F64))
                .constant(Tensors.ofDoubles("d", new long[0], new double[] {0.25}, F64))
                .node(node("MatMul", list("x", "A"), list("h")))
                .node(node("MatMul", list("h", "B"), list("u")))
                .node(node("Mul", list("u", "s"), list("v")))
                .node(node("MatMul", list("v", "K"), list("w")))
                .node(node("Mul", list("w", "d"), list("Y")))
                .run();

        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("x", F64, xs))
                .addInitializer(Tensors.ofDoubles("A", new long[] {4, 2}, new double[8], F64))
                .addInitializer(Tensors.ofDoubles("B", new long[] {2, 4}, new double[8], F64))
                .addInitializer(Tensors.ofDoubles("s", new long[0], new double[] {2.0}, F64))
                .addNode(node("MatMul", list("x", "A"), list("h")))
                .addNode(node("MatMul", list("h", "B"), list("u")))
                .addNode(node("Mul", list("u", "s"), list("Y")))
                .addOutput(Models.info("Y", F64, null)).build();
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        new Backprop(StandardRules.registry()).build(g, Map.of("Y", "dY"), Set.of("A", "B"), b);
        assertTrue(b.nodes().stream().noneMatch(n -> n.getOpType().equals("Mul")),
                "the scaling was applied as its own pass: " + b.nodes());

        GraphProto overridable = g.toBuilder().addInput(Models.info("s", F64, new long[0])).build();
        GraphBuilder b2 = new GraphBuilder(new NameGen(new GraphIndex(overridable).allNames()));
        new Backprop(StandardRules.registry()).build(overridable, Map.of("Y", "dY"), Set.of("A", "B"), b2);
        assertTrue(b2.nodes().stream().anyMatch(n -> n.getOpType().equals("Mul")),
                "a scale the caller may override was folded into a constant alpha");
    }

    /**
     * Attention's {@code probs·V} with V from the head split: V's gradient {@code Pᵀ·dO} is computed as
     * {@code dOᵀ·P} (MLAS transposes the head-wide dO, not the probabilities) and the swap rides in V's
     * Transpose, so the backward has as many nodes as before and the same values.
     */
    @Test
    void valueGradientOfAttentionTransposesTheSmallOperand() {
        long[] ss = {2, 3, 5, 5};
        long[] xs = {2, 5, 3, 4};
        GradCheck c = GradCheck.float64();
        c.input("S", ss).input("X", xs)
                .node(node("Softmax", list("S"), list("P")))
                .node(node("Transpose", list("X"), list("V"), Attrs.ints("perm", 0, 2, 1, 3)))
                .node(node("MatMul", list("P", "V"), list("Y")))
                .run();

        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("S", F64, ss)).addInput(Models.info("X", F64, xs))
                .addNode(node("Softmax", list("S"), list("P")))
                .addNode(node("Transpose", list("X"), list("V"), Attrs.ints("perm", 0, 2, 1, 3)))
                .addNode(node("MatMul", list("P", "V"), list("Y")))
                .addOutput(Models.info("Y", F64, null)).build();
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        new Backprop(StandardRules.registry()).build(g, Map.of("Y", "dY"), Set.of("S", "X"), b);
        List<NodeProto> products = b.nodes().stream().filter(n -> n.getOpType().equals("FusedMatMul")).toList();
        assertEquals(2, products.size(), b.nodes().toString());
        assertTrue(products.stream().noneMatch(n -> n.getInput(0).equals("P") && Attrs.getInt(n, "transA", 0) == 1),
                "the probabilities are the transposed operand of V's gradient: " + products);
        List<NodeProto> transposes = b.nodes().stream().filter(n -> n.getOpType().equals("Transpose")).toList();
        assertEquals(1, transposes.size(), b.nodes().toString());
        assertArrayEquals(new long[] {0, 3, 1, 2}, Attrs.getInts(transposes.get(0), "perm"));
    }

    /**
     * GELU's backward is nine elementwise passes, its ½ folded into the input gradient of the product that
     * reads it (eleven before), and still matches finite differences ({@code RuleGradientTest.gelu}).
     */
    @Test
    void geluBackwardFoldsItsHalfIntoTheNextProduct() {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("x", DataType.FLOAT_VALUE, new long[] {2, 3, 4}))
                .addInitializer(Tensors.ofDoubles("A", new long[] {4, 4}, new double[16], DataType.FLOAT_VALUE))
                .addInitializer(Tensors.ofDoubles("W", new long[] {4, 4}, new double[16], DataType.FLOAT_VALUE))
                .addNode(node("MatMul", list("x", "A"), list("h")))
                .addNode(node(GraphBuilder.MS_DOMAIN, "Gelu", list("h"), list("a")))
                .addNode(node("MatMul", list("a", "W"), list("Y")))
                .addOutput(Models.info("Y", DataType.FLOAT_VALUE, null)).build();
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        new Backprop(StandardRules.registry()).build(g, Map.of("Y", "dY"), Set.of("A"), b);
        Set<String> elementwise = Set.of("Mul", "Add", "Sub", "Exp", "Erf", "Neg");
        long passes = b.nodes().stream().filter(n -> elementwise.contains(n.getOpType())).count();
        assertEquals(9, passes, "elementwise nodes of GELU's backward: " + b.nodes());
        NodeProto dh = b.nodes().stream().filter(n -> n.getOpType().equals("Gemm")).findFirst().orElseThrow();
        assertEquals(0.5f, Attrs.getFloat(dh, "alpha", 1f), "the ½ is not folded into the product: " + b.nodes());
    }

    @Test
    void differentiatesOnlyThePathAndNeverFrozenValues() {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("x", F64, new long[] {2, 4}))
                .addInitializer(Tensors.ofDoubles("A", new long[] {4, 4}, new double[16], F64))
                .addInitializer(Tensors.ofDoubles("W", new long[] {4, 4}, new double[16], F64))
                .addInitializer(Tensors.ofDoubles("gamma", new long[] {4}, new double[4], F64))
                .addNode(node("Tanh", list("x"), list("t")))                       // upstream of the adapter
                .addNode(node("MatMul", list("t", "A"), list("h")))                // adapter: only dA
                .addNode(node("MatMul", list("h", "W"), list("k")))                // frozen W: only dh
                .addNode(node("Shape", list("k"), list("s")))                      // shape path: cut
                .addNode(node("Cos", list("x"), list("unrelated")))                // no rule, but off the path
                .addNode(node("LayerNormalization", list("k", "gamma", "gamma"), list("Y")))
                .addOutput(Models.info("Y", F64, null)).build();
        Map<String, boolean[]> seen = new HashMap<>();
        GradientRegistry spy = spyRegistry(seen, "MatMul", "LayerNormalization", "Tanh", "Shape");
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        Map<String, String> grads = new Backprop(spy).build(g, Map.of("Y", "dY"), Set.of("A"), b);
        assertEquals(Set.of("A"), grads.keySet());
        assertArrayEquals(new boolean[] {false, true}, seen.get("MatMul:h"));
        assertArrayEquals(new boolean[] {true, false}, seen.get("MatMul:k"));
        assertArrayEquals(new boolean[] {true, false, false}, seen.get("LayerNormalization:Y"));
        assertTrue(!seen.containsKey("Tanh:t") && !seen.containsKey("Shape:s"), "nodes off the path were visited");
        assertTrue(b.nodes().stream().noneMatch(n -> n.getOpType().equals("Transpose")),
                "a weight was transposed in the graph");
    }

    @Test
    void missingRuleNamesOpAndNode() {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("x", F64, new long[] {2}))
                .addNode(NodeProto.newBuilder().setOpType("Cos").setName("/model/odd/Cos").addInput("x").addOutput("Y"))
                .addOutput(Models.info("Y", F64, null)).build();
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> new Backprop(StandardRules.registry()).build(g, Map.of("Y", "dY"), Set.of("x"), b));
        assertEquals(ErrorCode.COMPILE, e.code());
        assertTrue(e.getMessage().contains("no gradient rule for op Cos") && e.getMessage().contains("'/model/odd/Cos'"),
                e.getMessage());
    }

    @Test
    void trainableValueThatCannotReachTheLossIsAnError() {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Models.info("x", F64, new long[] {2}))
                .addInput(Models.info("a", F64, new long[] {2}))
                .addNode(node("Tanh", list("x"), list("Y")))
                .addNode(node("Shape", list("a"), list("s")))
                .addOutput(Models.info("Y", F64, null)).build();
        GraphBuilder b = new GraphBuilder(new NameGen(new GraphIndex(g).allNames()));
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> new Backprop(StandardRules.registry()).build(g, Map.of("Y", "dY"), Set.of("a"), b));
        assertEquals(ErrorCode.COMPILE, e.code());
        assertTrue(e.getMessage().contains("'a'"), e.getMessage());
    }

    @Test
    void registryRefusesDuplicates() {
        GradientRegistry r = StandardRules.registry();
        assertThrows(IllegalStateException.class, () -> r.register("ai.onnx", "MatMul", ctx -> ctx.results()));
        assertThrows(IllegalStateException.class,
                () -> r.register(GraphBuilder.MS_DOMAIN, "FusedMatMul", ctx -> ctx.results()));
    }

    /** Standard rules, with the named ones wrapped to record which inputs Backprop asked gradients for. */
    private static GradientRegistry spyRegistry(Map<String, boolean[]> seen, String... ops) {
        GradientRegistry real = StandardRules.registerAll(new GradientRegistry());
        GradientRegistry spy = new GradientRegistry();
        List<String> wrapped = new ArrayList<>(List.of(ops));
        for (String op : wrapped) {
            GradientRule rule = real.find("", op).orElseThrow();
            spy.register("", op, new GradientRule() {
                @Override
                public String[] build(GradContext ctx) {
                    boolean[] req = new boolean[ctx.inputCount()];
                    for (int i = 0; i < req.length; i++) {
                        req[i] = ctx.isGradientRequired(i);
                    }
                    seen.put(op + ":" + ctx.O(0), req);
                    return rule.build(ctx);
                }

                @Override
                public boolean isDifferentiableInput(NodeProto node, int i) {
                    return rule.isDifferentiableInput(node, i);
                }
            });
        }
        return spy;
    }
}
