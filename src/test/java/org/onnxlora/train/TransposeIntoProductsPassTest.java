package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.io.Tensors;
import org.onnxlora.testing.TinyGraphs;

/**
 * The key's transpose [0, 2, 3, 1] becomes a head split that its products read transposed, and the backward's
 * [0, 3, 1, 2] a head merge of a product that writes its result transposed.
 */
@ExtendWith(TrainingGoldens.class)
class TransposeIntoProductsPassTest {
    private static final int F = DataType.FLOAT_VALUE;

    private static List<Long> perm(NodeProto n) {
        return n.getAttributeList().stream().filter(a -> a.getName().equals("perm")).findFirst().orElseThrow()
                .getIntsList();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void theKeyTransposesOfTheTrainingGraphBecomeHeadSplitsAndTheirGradientsHeadMerges(Path model) {
        GraphProto g = new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model),
                TrainingCompiler.Options.defaults()).training().getGraph();
        long keys = g.getNodeList().stream().filter(n -> Domains.isOp(n, "Transpose")
                && perm(n).equals(List.of(0L, 2L, 3L, 1L))).count();
        long back = g.getNodeList().stream().filter(n -> Domains.isOp(n, "Transpose")
                && perm(n).equals(List.of(0L, 3L, 1L, 2L))).count();
        assertEquals(6, keys, "one per attention of the 2+2-layer fixture");
        assertEquals(12, back, "the key's and the value's gradients of each attention");
        PassResult<GraphProto> r = new TransposeIntoProductsPass().apply(g);
        assertEquals(keys + back, r.changed().size(), r.summary());
        assertEquals(List.of(), r.refused());
        assertEquals(g.getNodeCount(), r.output().getNodeCount(), "no node more or less");
        assertFalse(r.output().getNodeList().stream().anyMatch(n -> Domains.isOp(n, "Transpose")
                && !perm(n).equals(List.of(0L, 2L, 1L, 3L))), "only head splits and merges are left");
    }

    /**
     * k [n, s, h, d] → Transpose [0, 2, 3, 1] → × scale → read by Q·Kᵀ (a MatMul) and by a FusedMatMul that
     * already transposes it (a gradient's product).
     */
    private static TinyGraphs scaledKey(String scale, List<Long> scaleDims) {
        TinyGraphs t = new TinyGraphs(5).input("k", F, "n", "s", 2L, 3L).input("q", F, "n", 2L, "t", 3L)
                .input("g", F, "n", 2L, "t", "s");
        long[] dims = scaleDims.stream().mapToLong(Long::longValue).toArray();
        int count = 1;
        for (long d : dims) {
            count *= (int) d;
        }
        double[] v = new double[count];
        java.util.Arrays.fill(v, 0.5);
        t.init(Tensors.ofDoubles(scale, dims, v, F));
        t.node("Transpose", "/kt", List.of("k"), List.of("kt"), Attrs.ints("perm", 0, 2, 3, 1));
        t.node("Mul", "/scale", List.of("kt", scale), List.of("kts"));
        t.node("MatMul", "/scores", List.of("q", "kts"), List.of("scores"));
        t.node("com.microsoft", "FusedMatMul", "/dq", List.of("g", "kts"), List.of("dq"), Attrs.i("transB", 1), Attrs.f("alpha", 1f))
                .output("scores", F, "n", 2L, "t", "s").output("dq", F, "n", 2L, "t", 3L);
        return t;
    }

    private static float[] range(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (i % 7) * 0.25f - 0.5f;
        }
        return x;
    }

    @Test
    void aScaledKeyReadByTwoProductsGivesTheSameValues() throws Exception {
        ModelProto m = PassOrt.withMsDomain(scaledKey("scale", List.of()).model());
        PassResult<GraphProto> r = new TransposeIntoProductsPass().apply(m.getGraph());
        assertEquals(1, r.changed().size(), r.summary());
        ModelProto after = m.toBuilder().setGraph(r.output()).build();
        NodeProto scores = r.output().getNodeList().stream().filter(n -> n.getName().equals("/scores")).findFirst()
                .orElseThrow();
        assertEquals("FusedMatMul", scores.getOpType());
        assertEquals(1, Attrs.getInt(scores, "transB", 0));
        NodeProto dq = r.output().getNodeList().stream().filter(n -> n.getName().equals("/dq")).findFirst().orElseThrow();
        assertEquals(0, Attrs.getInt(dq, "transB", 1), "a transposed read of a transposed value reads it plainly");
        long n = 2, s = 5, t = 4;
        java.util.Map<String, float[]> in = java.util.Map.of("k", range((int) (n * s * 2 * 3)),
                "q", range((int) (n * 2 * t * 3)), "g", range((int) (n * 2 * t * s)));
        java.util.Map<String, long[]> shapes = java.util.Map.of("k", new long[] {n, s, 2, 3},
                "q", new long[] {n, 2, t, 3}, "g", new long[] {n, 2, t, s});
        for (String out : List.of("scores", "dq")) {
            float[] want = PassOrt.runMany(m, in, shapes, out);
            assertArrayEquals(want, PassOrt.runMany(after, in, shapes, out), 1e-6f, out);
            assertTrue(PassOrt.maxAbs(want, new float[want.length]) > 0, out + " is not all zeros");
        }
    }

    @Test
    void aReaderThatIsNotAProductKeepsTheTranspose() {
        TinyGraphs t = scaledKey("scale", List.of());
        t.node("Relu", "/other", List.of("kt"), List.of("r")).output("r", F, "n", 2L, 3L, "s");
        PassResult<GraphProto> r = new TransposeIntoProductsPass().apply(t.model().getGraph());
        assertFalse(r.isChanged());
        assertTrue(r.refused().get(0).reason().contains("/other"), r.refused().toString());
        PassResult<GraphProto> perChannel = new TransposeIntoProductsPass().apply(
                scaledKey("scale", List.of(1L, 1L, 1L, 5L)).model().getGraph());
        assertFalse(perChannel.isChanged(), "a Mul by more than a scalar does not commute with the transpose");
    }
    /**
     * g [n, h, t, s] and q [n, h, t, d]: the key's gradient as the backward writes it, {@code qᵀ·g} ([n, h, d, s], a
     * FusedMatMul with transA) merged back by a Transpose [0, 3, 1, 2]; and a MatMul whose result is only swapped.
     */
    private static TinyGraphs keyGradient() {
        TinyGraphs t = new TinyGraphs(5).input("q", F, "n", 2L, "t", 3L).input("g", F, "n", 2L, "t", "s")
                .input("w", F, "n", 2L, 3L, "s");
        t.node("com.microsoft", "FusedMatMul", "/dkt", List.of("q", "g"), List.of("dkt"), Attrs.i("transA", 1),
                Attrs.f("alpha", 0.5f));
        t.node("Transpose", "/dk", List.of("dkt"), List.of("dk"), Attrs.ints("perm", 0, 3, 1, 2));
        t.node("MatMul", "/qw", List.of("q", "w"), List.of("qw"));
        t.node("Transpose", "/qwt", List.of("qw"), List.of("qwt"), Attrs.ints("perm", 0, 1, 3, 2));
        // a weight matrix against the stack: broadcast over the batch axes, which the swap keeps
        t.init(t.random("c", F, 3L, 4L));
        t.node("MatMul", "/qc", List.of("q", "c"), List.of("qc"));
        t.node("Transpose", "/qct", List.of("qc"), List.of("qct"), Attrs.ints("perm", 0, 3, 1, 2));
        return t.output("dk", F, "n", "s", 2L, 3L).output("qwt", F, "n", 2L, "s", "t").output("qct", F, "n", 4L, 2L, "t");
    }

    @Test
    void aProductWhoseOnlyReaderIsTheTransposeWritesItsResultTransposed() throws Exception {
        ModelProto m = PassOrt.withMsDomain(keyGradient().model());
        PassResult<GraphProto> r = new TransposeIntoProductsPass().apply(m.getGraph());
        assertEquals(3, r.changed().size(), r.summary());
        NodeProto dkt = r.output().getNodeList().stream().filter(n -> n.getName().equals("/dkt")).findFirst()
                .orElseThrow();
        assertEquals(List.of("g", "q"), dkt.getInputList(), "the operands swap");
        assertEquals(1, Attrs.getInt(dkt, "transA", 0));
        assertEquals(0, Attrs.getInt(dkt, "transB", 1));
        assertEquals(0.5f, Attrs.getFloat(dkt, "alpha", 1f), "the scale stays");
        NodeProto dk = r.output().getNodeList().stream().filter(n -> n.getName().equals("/dk")).findFirst().orElseThrow();
        assertEquals(List.of(0L, 2L, 1L, 3L), perm(dk), "a head merge, which the Gathers copy");
        assertFalse(r.output().getNodeList().stream().anyMatch(n -> n.getName().equals("/qwt")), "the swap alone goes");
        ModelProto after = m.toBuilder().setGraph(r.output()).build();
        long n = 2, s = 5, t = 4;
        java.util.Map<String, float[]> in = java.util.Map.of("q", range((int) (n * 2 * t * 3)),
                "g", range((int) (n * 2 * t * s)), "w", range((int) (n * 2 * 3 * s)));
        java.util.Map<String, long[]> shapes = java.util.Map.of("q", new long[] {n, 2, t, 3},
                "g", new long[] {n, 2, t, s}, "w", new long[] {n, 2, 3, s});
        for (String out : List.of("dk", "qwt", "qct")) {
            float[] want = PassOrt.runMany(m, in, shapes, out);
            assertArrayEquals(want, PassOrt.runMany(after, in, shapes, out), 0f, out + ": the same products, to the bit");
            assertTrue(PassOrt.maxAbs(want, new float[want.length]) > 0, out + " is not all zeros");
        }
    }

    @Test
    void aProductWithAnotherReaderKeepsTheBackwardTranspose() {
        TinyGraphs t = keyGradient();
        t.node("Relu", "/other", List.of("dkt"), List.of("r")).output("r", F, "n", 2L, 3L, "s");
        PassResult<GraphProto> r = new TransposeIntoProductsPass().apply(t.model().getGraph());
        assertEquals(2, r.changed().size(), "the swap of /qw and the merge of /qc still go: " + r.summary());
        assertEquals(1, r.refused().size(), r.summary());
        assertTrue(r.refused().get(0).reason().contains("other readers"), r.refused().toString());
    }
}
