package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.Map;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;

/** Runs a one-input float model in ONNX Runtime: the before/after check of a graph rewrite. */
final class PassOrt {
    private PassOrt() {}

    /** The model with com.microsoft imported, which the fused ops need. */
    static ModelProto withMsDomain(ModelProto m) {
        return m.toBuilder().addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .build();
    }

    static float[] run(ModelProto m, String input, float[] x, long[] shape, String output) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession s = env.createSession(m.toByteArray(), o);
                    OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), shape);
                    OrtSession.Result r = s.run(Map.of(input, t))) {
                FloatBuffer f = ((OnnxTensor) r.get(output).orElseThrow()).getFloatBuffer();
                float[] out = new float[f.remaining()];
                f.get(out);
                return out;
            }
        }
    }

    /** Runs {@code m} on several float inputs (name → values, name → shape) and returns {@code output}. */
    static float[] runMany(ModelProto m, Map<String, float[]> inputs, Map<String, long[]> shapes, String output)
            throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        java.util.Map<String, OnnxTensor> feeds = new java.util.HashMap<>();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            for (var e : inputs.entrySet()) {
                feeds.put(e.getKey(), OnnxTensor.createTensor(env, FloatBuffer.wrap(e.getValue()), shapes.get(e.getKey())));
            }
            try (OrtSession s = env.createSession(m.toByteArray(), o); OrtSession.Result r = s.run(feeds)) {
                FloatBuffer f = ((OnnxTensor) r.get(output).orElseThrow()).getFloatBuffer();
                float[] out = new float[f.remaining()];
                f.get(out);
                return out;
            }
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    static float maxAbs(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError(a.length + " vs " + b.length + " values");
        }
        float d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }
}
