package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * The loss without OneHot gives the one-hot formulation's gradient bit for bit and its loss to
 * float rounding (label smoothing reorders one sum), and both agree with PyTorch's cross entropy
 * computed in float64.
 */
class LossBuilderTest {
    static final int B = 3;
    static final int T = 5;
    static final int V = 37;
    static final long IGNORE = -100;

    @ParameterizedTest
    @ValueSource(doubles = {0, 0.1, 0.3})
    void matchesTheOneHotLossAndFloat64CrossEntropy(double smoothing) throws Exception {
        LossConfig cfg = new LossConfig(IGNORE, smoothing);
        ModelProto now = model(cfg, false);
        ModelProto ref = model(cfg, true);
        assertFalse(now.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("OneHot")));
        assertTrue(ref.getGraph().getNodeList().stream().anyMatch(n -> n.getOpType().equals("OneHot")));

        SplittableRandom rng = new SplittableRandom(11);
        float[] logits = new float[B * T * V];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (rng.nextGaussian() * 3);
        }
        long[] labels = new long[B * T];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 4 == 3 ? IGNORE : rng.nextInt(V);
        }
        labels[1] = 0;
        labels[2] = V - 1; // both ends of the vocabulary
        Out a = run(now, logits, labels);
        Out b = run(ref, logits, labels);
        assertEquals(b.tokens, a.tokens);
        assertArrayEquals(b.dlogits, a.dlogits, "the gradient is the same float expression per element");
        if (smoothing == 0) {
            assertEquals(b.loss, a.loss, "no smoothing: the same ops");
        } else {
            assertEquals(b.loss, a.loss, 1e-6 * Math.abs(b.loss));
        }

        // float64 reference: PyTorch's cross entropy with label_smoothing, summed over counted tokens
        double loss = 0;
        double tokens = 0;
        double maxErr = 0;
        for (int t = 0; t < B * T; t++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < V; c++) {
                max = Math.max(max, logits[t * V + c]);
            }
            double z = 0;
            for (int c = 0; c < V; c++) {
                z += Math.exp(logits[t * V + c] - max);
            }
            boolean valid = labels[t] != IGNORE;
            double meanNegLp = 0;
            for (int c = 0; c < V; c++) {
                double lp = logits[t * V + c] - max - Math.log(z);
                meanNegLp -= lp / V;
                double target = valid ? (c == labels[t] ? 1 - smoothing : 0) + smoothing / V : 0;
                double g = valid ? Math.exp(lp) - target : 0;
                maxErr = Math.max(maxErr, Math.abs(g - a.dlogits[t * V + c]));
            }
            if (valid) {
                tokens++;
                loss += (1 - smoothing) * -(logits[(int) (t * V + labels[t])] - max - Math.log(z)) + smoothing * meanNegLp;
            }
        }
        assertEquals(tokens, a.tokens);
        assertEquals(loss, a.loss, 1e-5 * loss);
        assertTrue(maxErr <= 1e-6, "gradient vs float64: " + maxErr);
    }

    private record Out(double loss, double tokens, float[] dlogits) {}

    private static Out run(ModelProto m, float[] logits, long[] labels) throws Exception {
        try (OrtSession s = Sessions.create(m, RuntimeOptions.defaults(), "loss");
                OnnxTensor l = OnnxTensor.createTensor(Sessions.env(), FloatBuffer.wrap(logits), new long[] {B, T, V});
                OnnxTensor y = OnnxTensor.createTensor(Sessions.env(), LongBuffer.wrap(labels), new long[] {B, T});
                OrtSession.Result r = s.run(Map.of("logits", l, "labels", y))) {
            FloatBuffer g = ((OnnxTensor) r.get("dlogits").orElseThrow()).getFloatBuffer();
            float[] d = new float[g.remaining()];
            g.get(d);
            return new Out((Float) ((OnnxTensor) r.get("loss_sum").orElseThrow()).getValue(),
                    (Float) ((OnnxTensor) r.get("token_count").orElseThrow()).getValue(), d);
        }
    }

    /** logits [B,T,V] and labels [B,T] in; loss_sum, token_count and dlogits out. */
    private static ModelProto model(LossConfig cfg, boolean oneHotReference) {
        int f = DataType.FLOAT_VALUE;
        NameGen names = new NameGen(new HashSet<>(List.of("logits", "labels", "loss_sum", "token_count", "dlogits")));
        GraphBuilder b = new GraphBuilder(names);
        LossBuilder.Loss loss = oneHotReference ? OneHotLossReference.build(b, "logits", "labels", cfg, true)
                : LossBuilder.build(b, "logits", "labels", cfg, true);
        b.add("", "Identity", "out_loss", List.of(loss.lossSum()), List.of("loss_sum"));
        b.add("", "Identity", "out_count", List.of(loss.tokenCount()), List.of("token_count"));
        b.add("", "Identity", "out_grad", List.of(loss.dlogits()), List.of("dlogits"));
        GraphProto g = GraphProto.newBuilder().setName("loss")
                .addInput(ValueInfos.tensor("logits", f, "b", "t", "v"))
                .addInput(ValueInfos.tensor("labels", DataType.INT64_VALUE, "b", "t"))
                .addOutput(ValueInfos.tensor("loss_sum", f)).addOutput(ValueInfos.tensor("token_count", f))
                .addOutput(ValueInfos.tensor("dlogits", f, "b", "t", "v"))
                .addAllNode(b.nodes()).addAllInitializer(b.initializers()).build();
        return ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).setGraph(g).build();
    }
}
