package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.TinyGraphs;

/** The CPU sessions' Sigmoid from Exp: the same outputs on every export, and within a few ulp of float64. */
class SigmoidFromExpPassTest {

    private static long count(GraphProto g, String op) {
        return g.getNodeList().stream().filter(n -> n.getOpType().equals(op)).count();
    }

    /** Marian's SiLU FFNs are the exports with a Sigmoid; every other export passes through unchanged. */
    @ParameterizedTest
    @MethodSource("org.onnxlora.train.ReplayHazardsTest#exports")
    void everyFloatSigmoidGivesTheSameOutputs(Path model) {
        ModelProto before = BitwiseSteps.patchedWithRandomAdapters(model);
        PassResult<GraphProto> r = new SigmoidFromExpPass().apply(before.getGraph());
        long sigmoids = count(before.getGraph(), "Sigmoid");
        assertEquals(sigmoids, r.changed().size(), r.summary());
        assertEquals(0, count(r.output(), "Sigmoid"));
        if (sigmoids > 0) {
            SameOutputs.assertWithin(before, before.toBuilder().setGraph(r.output()).build(), 2e-6, 2e-6);
        }
    }

    /** Over [−16, 16], including the negative tail where σ is small: within 4e-7 relative of float64. */
    @Test
    void staysWithinAFewUlpOfFloat64() throws Exception {
        int n = 1 << 16;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = -16f + 32f * i / (n - 1);
        }
        ModelProto m = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, (long) n)
                .node("Sigmoid", "/act/Sigmoid", List.of("x"), List.of("y"))
                .output("y", DataType.FLOAT_VALUE, (long) n).model();
        PassResult<GraphProto> r = new SigmoidFromExpPass().apply(m.getGraph());
        assertEquals(1, r.changed().size(), r.summary());
        float[] y = PassOrt.run(m.toBuilder().setGraph(r.output()).build(), "x", x, new long[] {n}, "y");
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double want = 1 / (1 + Math.exp(-(double) x[i]));
            worst = Math.max(worst, Math.abs(y[i] - want) / want);
        }
        assertTrue(worst <= 4e-7, "largest relative difference from float64: " + worst);
    }

    /** Far past float's range, σ's limits: 0 where e^(−x) overflows, 1 where it underflows. */
    @Test
    void saturatesToItsLimits() throws Exception {
        float[] x = {-200f, -100f, -89f, 89f, 100f, 200f};
        ModelProto m = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, (long) x.length)
                .node("Sigmoid", "/act/Sigmoid", List.of("x"), List.of("y"))
                .output("y", DataType.FLOAT_VALUE, (long) x.length).model();
        GraphProto rewritten = new SigmoidFromExpPass().apply(m.getGraph()).output();
        float[] y = PassOrt.run(m.toBuilder().setGraph(rewritten).build(), "x", x, new long[] {x.length}, "y");
        for (int i = 0; i < x.length; i++) {
            assertEquals(x[i] < 0 ? 0f : 1f, y[i], 1e-30f, "σ(" + x[i] + ")");
        }
    }

    /** A double Sigmoid is exact on the CPU already and is left alone. */
    @Test
    void aDoubleSigmoidKeepsTheKernel() {
        ModelProto m = new TinyGraphs(1).input("x", DataType.DOUBLE_VALUE, 4L)
                .node("Sigmoid", "/act/Sigmoid", List.of("x"), List.of("y"))
                .output("y", DataType.DOUBLE_VALUE, 4L).model();
        assertEquals(List.of(), new SigmoidFromExpPass().apply(m.getGraph()).changed());
    }
}
