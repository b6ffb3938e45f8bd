package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/**
 * GatherND (batch_dims 0) becomes a Gather on the flattened leading dims, with the same values to the bit: index
 * depths 1 to 3, negative indices, dims symbolic and constant, in ONNX Runtime before and after; the dynamo
 * exporter's padding mask, whose GatherND stopped CUDA-graph replays (session 11), lowered in the whole fixture.
 */
class GatherNdLoweringPassTest {
    private static final int F = DataType.FLOAT_VALUE;
    private static final float[] DATA = new float[3 * 4 * 5];

    static {
        for (int i = 0; i < DATA.length; i++) {
            DATA[i] = i * 1.5f - 7;
        }
    }

    /** GatherND of data [3, 4, 5] (symbolic or constant dims) at indices fed as floats and cast to int64. */
    private static ModelProto gatherNd(boolean symbolic, long[] indexShape, long batchDims) {
        Object[] dataDims = symbolic ? new Object[] {"a", "b", "c"} : new Object[] {3, 4, 5};
        Object[] indexDims = new Object[indexShape.length];
        for (int i = 0; i < indexShape.length; i++) {
            // the depth must be known; the leading dims stay symbolic
            indexDims[i] = i == indexShape.length - 1 ? (Object) indexShape[i] : "n" + i;
        }
        int depth = (int) indexShape[indexShape.length - 1];
        Object[] outDims = new Object[indexShape.length - 1 + 3 - depth];
        for (int i = 0; i < outDims.length; i++) {
            outDims[i] = "y" + i;
        }
        TinyGraphs t = new TinyGraphs(0).input("data", F, dataDims).input("fi", F, indexDims).output("y", F, outDims);
        t.node("Cast", "/cast", List.of("fi"), List.of("i"), Attrs.i("to", DataType.INT64_VALUE));
        t.node("GatherND", "/gathernd", List.of("data", "i"), List.of("y"), Attrs.i("batch_dims", batchDims));
        return t.model();
    }

    private static float[] run(ModelProto m, float[] indices, long[] indexShape) throws Exception {
        return PassOrt.runMany(m, Map.of("data", DATA, "fi", indices), Map.of("data", new long[] {3, 4, 5}, "fi",
                indexShape), "y");
    }

    private static void assertLoweredExactly(boolean symbolic, float[] indices, long[] indexShape) throws Exception {
        ModelProto before = gatherNd(symbolic, indexShape, 0);
        PassResult<GraphProto> r = new GatherNdLoweringPass().apply(before.getGraph());
        String label = (symbolic ? "symbolic" : "constant") + " dims, indices " + java.util.Arrays.toString(indexShape);
        assertEquals(1, r.changed().size(), label);
        assertEquals(0, GeluFusionPassTest.count(r.output(), "GatherND"), label);
        ModelProto after = before.toBuilder().setGraph(r.output()).build();
        float[] want = run(before, indices, indexShape);
        assertArrayEquals(want, run(after, indices, indexShape), label);
    }

    @Test
    void pairsOfIndicesWithNegativesGiveGatherNDsValues() throws Exception {
        float[] pairs = {0, 1, -1, -2, 2, 3, -3, 0};
        for (boolean symbolic : new boolean[] {true, false}) {
            assertLoweredExactly(symbolic, pairs, new long[] {4, 2});
        }
    }

    @Test
    void fullDepthAndDepthOneGiveGatherNDsValues() throws Exception {
        for (boolean symbolic : new boolean[] {true, false}) {
            // depth 3: one element per index, from a [2, 1, 3] index tensor
            assertLoweredExactly(symbolic, new float[] {1, 2, 3, -1, -1, -5}, new long[] {2, 1, 3});
            // depth 1: whole [4, 5] slabs
            assertLoweredExactly(symbolic, new float[] {2, -1, 0}, new long[] {3, 1});
        }
    }

    @Test
    void batchDimsAreRefusedAndKept() {
        ModelProto m = gatherNd(true, new long[] {3, 1}, 1);
        PassResult<GraphProto> r = new GatherNdLoweringPass().apply(m.getGraph());
        assertEquals(List.of(), r.changed());
        assertEquals(1, r.refused().size());
        assertTrue(r.refused().get(0).reason().contains("batch_dims 1"), r.refused().get(0).reason());
        assertEquals(1, GeluFusionPassTest.count(r.output(), "GatherND"));
    }

    @Test
    void theDynamoExportsPaddingMaskIsLoweredWithTheSameOutputs() {
        ModelProto base = ModelIO.load(Fixtures.dynamo());
        long before = GeluFusionPassTest.count(base.getGraph(), "GatherND");
        assertTrue(before > 0, "the dynamo fixture indexes its masks with GatherND");
        PassResult<GraphProto> r = new GatherNdLoweringPass().apply(base.getGraph());
        assertEquals(List.of(), r.refused());
        assertEquals(before, r.changed().size());
        assertEquals(0, GeluFusionPassTest.count(r.output(), "GatherND"));
        ModelProto lowered = base.toBuilder().setGraph(r.output()).build();
        double d = new Verifier(RuntimeOptions.defaults().withOptimize(false)).compare(base, lowered, 3, 11).maxAbs();
        assertEquals(0.0, d, "the lowered model's outputs differ by " + d);
    }

    @Test
    void theCompiledForwardHasNoGatherND() {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(Fixtures.dynamo());
        for (GraphProto g : List.of(a.training().getGraph(), a.eval().getGraph())) {
            assertEquals(0, GeluFusionPassTest.count(g, "GatherND"), g.getName());
        }
    }
}
