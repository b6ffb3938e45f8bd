package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/** CPU sessions add their gradient sums up with Adds, in Sum's own order: the same values to the bit. */
class SumAsAddsPassTest {
    private static final int F = DataType.FLOAT_VALUE;

    private static long count(GraphProto g, String op) {
        return g.getNodeList().stream().filter(n -> Domains.isOp(n, op)).count();
    }

    /** A five-way Sum whose inputs broadcast ([2, 3, 4], [3, 4], [1, 4], ...), a two-way one and a one-input one. */
    private static ModelProto sums() {
        return new TinyGraphs(1).input("a", F, 2L, 3L, 4L).input("b", F, 3L, 4L).input("c", F, 1L, 4L)
                .input("d", F, 2L, 3L, 4L).input("e", F, 2L, 1L, 4L)
                .node("Sum", "/five", List.of("a", "b", "c", "d", "e"), List.of("five"))
                .node("Sum", "/two", List.of("five", "a"), List.of("two"))
                .node("Sum", "/one", List.of("two"), List.of("one"))
                .output("five", F, 2L, 3L, 4L).output("one", F, 2L, 3L, 4L).model();
    }

    /** Values of very different magnitudes, so that any other order of the additions rounds differently. */
    private static float[] values(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextDouble(-1, 1) * Math.pow(10, r.nextInt(-3, 5)));
        }
        return x;
    }

    @Test
    void everySumOfTwoOrMoreBecomesAddsWithTheSameValuesToTheBit() throws Exception {
        ModelProto m = sums();
        PassResult<GraphProto> r = new SumAsAddsPass().apply(m.getGraph());
        assertEquals(2, r.changed().size(), r.summary());
        assertEquals(1, count(r.output(), "Sum"), "the one-input Sum stays");
        assertEquals(4 + 1, count(r.output(), "Add"));
        List<String> chain = r.output().getNodeList().stream().filter(n -> Domains.isOp(n, "Add"))
                .filter(n -> n.getName().startsWith("/five/")).map(n -> n.getInput(1)).toList();
        assertEquals(List.of("b", "c", "d", "e"), chain, "left to right, in the Sum's order");
        ModelProto after = m.toBuilder().setGraph(r.output()).build();
        Map<String, long[]> shapes = Map.of("a", new long[] {2, 3, 4}, "b", new long[] {3, 4}, "c", new long[] {1, 4},
                "d", new long[] {2, 3, 4}, "e", new long[] {2, 1, 4});
        Map<String, float[]> in = Map.of("a", values(24, 1), "b", values(12, 2), "c", values(4, 3), "d", values(24, 4),
                "e", values(8, 5));
        for (String out : List.of("five", "one")) {
            float[] want = PassOrt.runMany(m, in, shapes, out);
            assertArrayEquals(want, PassOrt.runMany(after, in, shapes, out), 0f, out);
        }
        // the check can fail: another order of the same additions gives other bits
        float[] a = in.get("a"), b = in.get("b"), c = in.get("c"), d = in.get("d"), e = in.get("e");
        float[] five = PassOrt.runMany(m, in, shapes, "five");
        boolean differs = false;
        for (int i = 0; i < 24; i++) {
            float reversed = a[i] + (b[i % 12] + (c[i % 4] + (d[i] + e[(i / 12) * 4 + i % 4])));
            differs |= reversed != five[i];
        }
        assertTrue(differs, "some element rounds differently when added right to left");
    }

    @Test
    void theCpuTrainingGraphHasNoSumLeft() {
        GraphProto g = BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript()).training().getGraph();
        long sums = count(g, "Sum");
        assertTrue(sums > 0, "the backward sums gradients");
        long terms = g.getNodeList().stream().filter(n -> Domains.isOp(n, "Sum")).mapToLong(NodeProto::getInputCount)
                .sum();
        PassResult<GraphProto> r = new SumAsAddsPass().apply(g);
        assertEquals(sums, r.changed().size(), r.summary());
        assertFalse(r.output().getNodeList().stream().anyMatch(n -> Domains.isOp(n, "Sum")));
        assertEquals(count(g, "Add") + terms - sums, count(r.output(), "Add"), "n - 1 Adds for an n-way Sum");
    }
}
