package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.data.Batch;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/**
 * On the CPU, the attention heads' Transpose [0, 2, 1, 3] becomes a Gather of rows, and the key's transpose
 * [0, 2, 3, 1] a head split read transposed by its products ({@link DeviceGraphs#HEAD_COPY_PASSES}): the same bytes in the
 * same places, so training steps agree to the bit with the compiled transposes, at every batch shape.
 */
@ExtendWith(TrainingGoldens.class)
class HeadCopyPassTest {
    @TempDir
    static Path tmp;

    private static boolean isHeadTranspose(NodeProto n) {
        return Domains.isOp(n, "Transpose") && n.getAttributeList().stream()
                .anyMatch(a -> a.getName().equals("perm") && a.getIntsList().equals(List.of(0L, 2L, 1L, 3L)));
    }

    private static long count(GraphProto g, String op) {
        return g.getNodeList().stream().filter(n -> Domains.isOp(n, op)).count();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void everyHeadTransposeOfTheTrainingGraphBecomesAGatherWithSharedIndices(Path model) {
        TrainingCompiler.Artifacts a = new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model),
                TrainingCompiler.Options.defaults());
        GraphProto before = a.training().getGraph();
        long heads = before.getNodeList().stream().filter(HeadCopyPassTest::isHeadTranspose).count();
        assertTrue(heads >= 18, "the fixture's attentions split and merge heads: " + heads);
        PassResult<GraphProto> r = new HeadCopyPass().apply(before);
        GraphProto after = r.output();
        assertEquals(heads, r.changed().size(), r.summary());
        assertEquals(List.of(), r.refused());
        assertFalse(after.getNodeList().stream().anyMatch(HeadCopyPassTest::isHeadTranspose));
        long shapes = count(after, "Shape") - count(before, "Shape");
        assertEquals(heads + shapes, count(after, "Gather") - count(before, "Gather"),
                "one Gather per transpose, plus one per sequence length read from an input's shape");
        // indices per (length, heads) pair, not per transpose: two lengths, split and merge each
        assertEquals(4, count(after, "Range") - count(before, "Range"), "one Range per index tensor");
        assertEquals(count(before, "Shape") + 2, count(after, "Shape"), "the two lengths, each read once");
        assertTrue(after.getNodeCount() <= before.getNodeCount() + heads + 4 * 4 + 2 * 2, after.getNodeCount() + " nodes");
    }

    /** Both exporters, and the SDPA exports, whose transposed key is scaled before its product. */
    static java.util.stream.Stream<Path> exports() {
        return java.util.stream.Stream.concat(Fixtures.bothExporters(), java.util.stream.Stream.of(
                Path.of("models", "exports", "bart-sdpa-ts-3in.onnx"), Path.of("models", "exports", "bart-sdpa-dynamo-3in.onnx")));
    }

    @ParameterizedTest
    @MethodSource("exports")
    void stepsWithGatheredHeadsEqualStepsWithTransposedHeadsToTheBit(Path model) {
        Path dir = BitwiseSteps.compiledWithRandomAdapters(model, tmp.resolve("art-" + model.getFileName()));
        List<Batch> batches = List.of(BitwiseSteps.randomBatch(4, 8, 6, 4), BitwiseSteps.randomBatch(3, 11, 5, 1),
                BitwiseSteps.randomBatch(2, 6, 9, 2), BitwiseSteps.randomBatch(1, 17, 3, 3));
        RuntimeOptions gather = RuntimeOptions.defaults().withThreads(2);
        RuntimeOptions transpose = gather.withCudaOptions(Map.of(RuntimeOptions.HEAD_COPIES, RuntimeOptions.TRANSPOSE));
        assertTrue(gather.headCopiesByGather());
        assertFalse(transpose.headCopiesByGather());
        BitwiseSteps.assertSameToTheBit(BitwiseSteps.train(dir, transpose, batches), BitwiseSteps.train(dir, gather,
                batches), batches.size());
    }

    /** x [n, a, b, c] → Transpose [0, 2, 1, 3] → y, with the dims given as symbols (String) or constants. */
    private static TinyGraphs transposeOf(Object n, Object a, Object b, Object c) {
        return new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, n, a, b, c)
                .node("Transpose", "/t", List.of("x"), List.of("y"), Attrs.ints("perm", 0, 2, 1, 3))
                .output("y", DataType.FLOAT_VALUE, n, b, a, c);
    }

    @Test
    void constantSizesGetAConstantIndexAndTheSameValues() throws Exception {
        GraphProto g = transposeOf("n", 5L, 3L, 4L).model().getGraph();
        PassResult<GraphProto> r = new HeadCopyPass().apply(g);
        assertEquals(1, r.changed().size(), r.summary());
        assertEquals(0, count(r.output(), "Range"), "a constant index: nothing computed at run time");
        float[] x = new float[2 * 5 * 3 * 4];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        long[] shape = {2, 5, 3, 4};
        float[] want = PassOrt.run(transposeOf("n", 5L, 3L, 4L).model(), "x", x, shape, "y");
        float[] got = PassOrt.run(transposeOf("n", 5L, 3L, 4L).model().toBuilder().setGraph(r.output()).build(),
                "x", x, shape, "y");
        assertArrayEquals(want, got);
        assertEquals(x[4], want[20], "y[0, 1, 0, 0] is x[0, 0, 1, 0]: the reference really transposes");
    }

    @Test
    void symbolicSizesAreReadFromTheInputAtRunTime() throws Exception {
        TinyGraphs t = transposeOf("n", "a", "b", 4L);
        PassResult<GraphProto> r = new HeadCopyPass().apply(t.model().getGraph());
        assertEquals(1, r.changed().size(), r.summary());
        for (long[] shape : new long[][] {{2, 5, 3, 4}, {1, 1, 7, 4}, {3, 6, 1, 4}}) {
            float[] x = new float[(int) (shape[0] * shape[1] * shape[2] * shape[3])];
            for (int i = 0; i < x.length; i++) {
                x[i] = i * 0.5f;
            }
            assertArrayEquals(PassOrt.run(t.model(), "x", x, shape, "y"),
                    PassOrt.run(t.model().toBuilder().setGraph(r.output()).build(), "x", x, shape, "y"),
                    java.util.Arrays.toString(shape));
        }
    }

    @Test
    void aHeadSizeKnownOnlyAtRunTimeIsRefused() {
        PassResult<GraphProto> r = new HeadCopyPass().apply(transposeOf("n", "a", 3L, "c").model().getGraph());
        assertFalse(r.isChanged());
        assertEquals(1, r.refused().size());
        assertTrue(r.refused().get(0).reason().contains("head size"), r.refused().get(0).toString());
        GraphProto unknown = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, "n", "a", "b", 4L)
                .node("com.example", "Opaque", "/o", List.of("x"), List.of("o"))
                .node("Transpose", "/t", List.of("o"), List.of("y"), Attrs.ints("perm", 0, 2, 1, 3))
                .output("y", DataType.FLOAT_VALUE, "n", "b", "a", 4L).model().getGraph();
        PassResult<GraphProto> opaque = new HeadCopyPass().apply(unknown);
        assertFalse(opaque.isChanged());
        assertTrue(opaque.refused().get(0).reason().contains("rank is not known"), opaque.refused().toString());
        GraphProto other = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, "n", "a", "b", 4L)
                .node("Transpose", "/t", List.of("x"), List.of("y"), Attrs.ints("perm", 0, 2, 3, 1))
                .output("y", DataType.FLOAT_VALUE, "n", "b", 4L, "a").model().getGraph();
        PassResult<GraphProto> none = new HeadCopyPass().apply(other);
        assertFalse(none.isChanged(), "another permutation is not a head copy");
        assertEquals(List.of(), none.refused());
    }
}
