package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * The LM head's backward product with the label column taken out is the same gradient, summed more exactly: on a
 * vocabulary of 4,096, against the same product of the same float32 {@code dlogits} in float64, both weight
 * orientations, an alpha, label smoothing, ignored rows, and labels whose probability is near 0 and near 1. (The
 * reference is the product's, not the loss's: near p = 1 the float32 {@code p − 1} itself is off by 1e-6 relative,
 * the same in both graphs.)
 */
class LabelColumnSplitTest {
    static final int B = 2;
    static final int T = 16;
    static final int V = 4096;
    static final int D = 32;
    static final long IGNORE = -100;

    @ParameterizedTest(name = "transB {0}, alpha {1}, smoothing {2}, label logit +{3}")
    @CsvSource({"false, 1, 0, 0", "false, 1, 0, 12", "true, 0.5, 0, 6", "true, 1, 0.1, 12", "false, 2, 0.1, 0"})
    void theSplitProductIsTheGradientAndCloserToFloat64(boolean transB, float alpha, double smoothing, double boost)
            throws Exception {
        SplittableRandom rng = new SplittableRandom(7);
        float[] w = new float[V * D]; // W[v][j], stored [V, D], or [D, V] with transB
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rng.nextGaussian() * 0.4);
        }
        long[] labels = new long[B * T];
        float[] logits = new float[B * T * V];
        for (int r = 0; r < B * T; r++) {
            labels[r] = r % 5 == 4 ? IGNORE : rng.nextInt(V);
            for (int v = 0; v < V; v++) {
                logits[r * V + v] = (float) rng.nextGaussian();
            }
            if (labels[r] != IGNORE) {
                logits[(int) (r * V + labels[r])] += (float) boost;
            }
        }
        LossConfig cfg = new LossConfig(IGNORE, smoothing);
        ModelProto stock = model(cfg, w, transB, alpha, false);
        ModelProto split = model(cfg, w, transB, alpha, true);
        assertEquals(count(stock, "Gather") + 1, count(split, "Gather"), "one gather of the label rows");

        Map<String, float[]> stockOut = run(stock, logits, labels);
        double[] exact = float64(stockOut.get("dlogits"), w, alpha);
        double stockError = relative(stockOut.get("dh"), exact);
        double splitError = relative(run(split, logits, labels).get("dh"), exact);
        assertTrue(splitError < 1.5e-7, "split product " + splitError + " from float64 (stock " + stockError + ")");
        assertTrue(splitError < stockError / 3, "split " + splitError + " against stock " + stockError);
    }

    /** A reader other than the product (here a loss-scale Mul) leaves the graph as it is, and says why. */
    @Test
    void aGradientReadByAnythingElseIsLeftAlone() {
        NameGen names = new NameGen(new HashSet<>(List.of("logits", "labels", "dh")));
        GraphBuilder b = new GraphBuilder(names);
        LossBuilder.Loss loss = LossBuilder.build(b, "logits", "labels", new LossConfig(IGNORE, 0), true);
        String scaled = b.op("Mul", loss.dlogits(), b.scalar(1024, DataType.FLOAT_VALUE));
        String weight = b.initializer(Tensors.ofFloats("w", new long[] {V, D}, new float[V * D]));
        b.add(GraphBuilder.MS_DOMAIN, "FusedMatMul", "p", List.of(scaled, weight), List.of("dh"));
        GraphProto g = graph(b);
        PassResult<GraphProto> r = LabelColumnSplit.apply(g, loss.dlogits(), loss.labelColumn());
        assertFalse(r.isChanged());
        assertEquals(g, r.output());
        assertTrue(r.refused().get(0).reason().contains("not a product"), r.summary());
    }

    private static ModelProto model(LossConfig cfg, float[] w, boolean transB, float alpha, boolean split) {
        NameGen names = new NameGen(new HashSet<>(List.of("logits", "labels", "dh")));
        GraphBuilder b = new GraphBuilder(names);
        LossBuilder.Loss loss = LossBuilder.build(b, "logits", "labels", cfg, true);
        float[] stored = transB ? transpose(w) : w;
        String weight = b.initializer(Tensors.ofFloats("w", transB ? new long[] {D, V} : new long[] {V, D}, stored));
        b.add(GraphBuilder.MS_DOMAIN, "FusedMatMul", "/grad/lm_head/FusedMatMul", List.of(loss.dlogits(), weight),
                List.of("dh"), Attrs.i("transB", transB ? 1 : 0), Attrs.f("alpha", alpha));
        if (!split) { // the stock graph shows the float32 dlogits; a second reader would stop the split
            b.add("", "Identity", "show_dlogits", List.of(loss.dlogits()), List.of("dlogits"));
        }
        GraphProto g = graph(b);
        if (!split) {
            g = g.toBuilder().addOutput(ValueInfos.tensor("dlogits", DataType.FLOAT_VALUE, "b", "t", "v")).build();
        }
        if (split) {
            PassResult<GraphProto> r = LabelColumnSplit.apply(g, loss.dlogits(), loss.labelColumn());
            assertTrue(r.isChanged() && r.refused().isEmpty(), r.summary());
            g = r.output();
        }
        return ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1))
                .setGraph(g).build();
    }

    private static GraphProto graph(GraphBuilder b) {
        int f = DataType.FLOAT_VALUE;
        return GraphProto.newBuilder().setName("head")
                .addInput(ValueInfos.tensor("logits", f, "b", "t", "v"))
                .addInput(ValueInfos.tensor("labels", DataType.INT64_VALUE, "b", "t"))
                .addOutput(ValueInfos.tensor("dh", f, "b", "t", "d"))
                .addAllNode(b.nodes()).addAllInitializer(b.initializers()).build();
    }

    private static Map<String, float[]> run(ModelProto m, float[] logits, long[] labels) throws Exception {
        try (OrtSession s = Sessions.create(m, RuntimeOptions.defaults().withThreads(2), "head");
                OnnxTensor l = OnnxTensor.createTensor(Sessions.env(), FloatBuffer.wrap(logits), new long[] {B, T, V});
                OnnxTensor y = OnnxTensor.createTensor(Sessions.env(), LongBuffer.wrap(labels), new long[] {B, T});
                OrtSession.Result r = s.run(Map.of("logits", l, "labels", y))) {
            Map<String, float[]> out = new java.util.HashMap<>();
            for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : r) {
                FloatBuffer g = ((OnnxTensor) e.getValue()).getFloatBuffer();
                float[] d = new float[g.remaining()];
                g.get(d);
                out.put(e.getKey(), d);
            }
            return out;
        }
    }

    /** alpha · dlogits · W in double, from the float32 dlogits. */
    private static double[] float64(float[] dlogits, float[] w, float alpha) {
        double[] out = new double[B * T * D];
        for (int r = 0; r < B * T; r++) {
            for (int v = 0; v < V; v++) {
                double g = dlogits[r * V + v];
                for (int j = 0; j < D; j++) {
                    out[r * D + j] += alpha * g * w[v * D + j];
                }
            }
        }
        return out;
    }

    private static float[] transpose(float[] w) {
        float[] t = new float[w.length];
        for (int v = 0; v < V; v++) {
            for (int j = 0; j < D; j++) {
                t[j * V + v] = w[v * D + j];
            }
        }
        return t;
    }

    private static double relative(float[] got, double[] want) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < want.length; i++) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
        }
        return Math.sqrt(num / den);
    }

    private static int count(ModelProto m, String op) {
        return (int) m.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals(op)).count();
    }
}
