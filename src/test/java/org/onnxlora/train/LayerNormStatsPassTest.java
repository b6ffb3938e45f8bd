package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;

/** Every LayerNormalization gains Mean/InvStdDev outputs, and the model computes the same logits. */
class LayerNormStatsPassTest {
    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void addsStatisticsWithoutChangingTheOutputs(Path file) throws Exception {
        ModelProto model = ModelIO.load(file);
        PassResult<GraphProto> r = new LayerNormStatsPass().apply(model.getGraph());
        GraphProto after = r.output();
        int norms = 0;
        for (NodeProto n : after.getNodeList()) {
            if (n.getOpType().equals("LayerNormalization")) {
                norms++;
                assertEquals(3, n.getOutputCount(), n.getName());
                assertTrue(!n.getOutput(1).isEmpty() && !n.getOutput(2).isEmpty(), n.getName());
            }
        }
        assertTrue(norms > 0);
        assertEquals(norms, r.changed().size(), "one entry per layer norm given its statistics");
        assertEquals(List.of(), r.refused());
        PassResult<GraphProto> again = new LayerNormStatsPass().apply(after);
        assertEquals(List.of(), again.changed(), "layer norms that have both statistics are left alone");
        assertSame(after, again.output());
        assertEquals(model.getGraph().getNodeCount(), after.getNodeCount());
        assertEquals(0, maxAbsDifference(logits(model), logits(model.toBuilder().setGraph(after).build())));
    }

    private static float maxAbsDifference(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        float d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    private static float[] logits(ModelProto m) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        long[] ids = {5, 17, 42, 2, 9, 11};
        long[] mask = {1, 1, 1, 1, 1, 0};
        long[] dec = {2, 5, 17, 8};
        try (OrtSession s = env.createSession(m.toByteArray(), new OrtSession.SessionOptions());
                OnnxTensor i = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {2, 3});
                OnnxTensor a = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {2, 3});
                OnnxTensor d = OnnxTensor.createTensor(env, LongBuffer.wrap(dec), new long[] {2, 2});
                OrtSession.Result r = s.run(Map.of("input_ids", i, "attention_mask", a, "decoder_input_ids", d))) {
            FloatBuffer f = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer();
            float[] out = new float[f.remaining()];
            f.get(out);
            return out;
        }
    }
}
