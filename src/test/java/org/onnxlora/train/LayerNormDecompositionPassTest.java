package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/**
 * The CPU sessions' LayerNormalization in elementwise ops: the forward's outputs as ONNX Runtime's kernel gives
 * them on every export, its statistics where the backward reads them, and closer to float64 than the kernel.
 */
class LayerNormDecompositionPassTest {

    private static long count(GraphProto g, String op) {
        return g.getNodeList().stream().filter(n -> n.getOpType().equals(op)).count();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.train.ReplayHazardsTest#exports")
    void everyFloatLayerNormGivesTheKernelsOutputs(Path model) {
        ModelProto before = BitwiseSteps.patchedWithRandomAdapters(model);
        PassResult<GraphProto> r = new LayerNormDecompositionPass().apply(before.getGraph());
        long norms = count(before.getGraph(), "LayerNormalization");
        boolean half = before.getGraph().getInitializerList().stream()
                .anyMatch(t -> t.getDataType() == DataType.FLOAT16_VALUE);
        // half-precision norms keep the kernel; the opset-14 export writes its norms out itself
        assertEquals(half ? 0 : norms, r.changed().size(), r.summary());
        assertEquals(half ? norms : 0, count(r.output(), "LayerNormalization"));
        // the kernel's one-pass variance is the less exact of the two (see the float64 test below)
        SameOutputs.assertWithin(before, before.toBuilder().setGraph(r.output()).build(), 1e-5, 1e-5);
    }

    /** The training graph keeps its backward reading Mean and InvStdDev, now from the decomposition. */
    @Test
    void theBackwardReadsTheDecomposedStatistics() {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript());
        GraphProto t = a.training().getGraph();
        PassResult<GraphProto> r = new LayerNormDecompositionPass().apply(t);
        assertEquals(count(t, "LayerNormalization"), r.changed().size(), r.summary());
        assertEquals(0, count(r.output(), "LayerNormalization"));
        org.onnxlora.graph.GraphIndex before = new org.onnxlora.graph.GraphIndex(t);
        org.onnxlora.graph.GraphIndex after = new org.onnxlora.graph.GraphIndex(r.output());
        int read = 0;
        for (var n : t.getNodeList()) {
            // the embeddings' norms have no backward: nothing below them trains
            if (n.getOpType().equals("LayerNormalization") && n.getOutputCount() == 3
                    && !before.consumersOf(n.getOutput(2)).isEmpty()) {
                read++;
                assertEquals("Reciprocal", after.node(after.producerOf(n.getOutput(2))).getOpType());
                assertEquals("Mul", after.node(after.producerOf(n.getOutput(1))).getOpType());
            }
        }
        assertTrue(read >= 4, read + " norms' statistics read by the backward");
    }

    /** Rows whose mean is large against their spread: the two-pass variance stays within 4e-6 of float64. */
    @Test
    void rowsWithALargeMeanStayCloseToFloat64() throws Exception {
        int rows = 64;
        int d = 768;
        float[] gamma = new float[d];
        float[] beta = new float[d];
        float[] x = new float[rows * d];
        SplittableRandom rnd = new SplittableRandom(5);
        for (int j = 0; j < d; j++) {
            gamma[j] = (float) rnd.nextDouble(0.5, 1.5);
            beta[j] = (float) rnd.nextDouble(-0.1, 0.1);
        }
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (3 + 0.5 * rnd.nextGaussian());
        }
        ModelProto m = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, (long) rows, (long) d)
                .init(Tensors.ofFloats("g", new long[] {d}, gamma)).init(Tensors.ofFloats("b", new long[] {d}, beta))
                .node("LayerNormalization", "/ln", List.of("x", "g", "b"), List.of("y"), Attrs.i("axis", -1))
                .output("y", DataType.FLOAT_VALUE, (long) rows, (long) d).model();
        PassResult<GraphProto> r = new LayerNormDecompositionPass().apply(m.getGraph());
        assertEquals(1, r.changed().size(), r.summary());
        float[] y = PassOrt.run(m.toBuilder().setGraph(r.output()).build(), "x", x, new long[] {rows, d}, "y");
        double worst = 0;
        for (int i = 0; i < rows; i++) {
            double mean = 0;
            for (int j = 0; j < d; j++) {
                mean += x[i * d + j];
            }
            mean /= d;
            double var = 0;
            for (int j = 0; j < d; j++) {
                var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
            }
            double inv = 1 / Math.sqrt(var / d + 1e-5);
            for (int j = 0; j < d; j++) {
                double want = (x[i * d + j] - mean) * inv * gamma[j] + beta[j];
                worst = Math.max(worst, Math.abs(want - y[i * d + j]));
            }
        }
        assertTrue(worst <= 4e-6, "largest difference from float64: " + worst);
    }

    /** A norm whose scale a caller may feed (a graph input) is not one this pass can size: it keeps the kernel. */
    @Test
    void aScaleThatIsAGraphInputKeepsTheKernel() {
        ModelProto m = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, "n", 8L)
                .input("g", DataType.FLOAT_VALUE, 8L)
                .node("LayerNormalization", "/ln", List.of("x", "g"), List.of("y"), Attrs.i("axis", -1))
                .output("y", DataType.FLOAT_VALUE, "n", 8L).model();
        assertEquals(List.of(), new LayerNormDecompositionPass().apply(m.getGraph()).changed());
    }
}
