package org.onnxlora.interop;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/** Logits of the full tiny-BART model on a fixed batch, and test adapters. */
final class Logits {
    static final RuntimeOptions OPTIONS = RuntimeOptions.defaults().withThreads(2);

    private Logits() {}

    /** A fixed padded batch: input_ids/attention_mask [2,7], decoder_input_ids [2,5]. */
    static Map<String, OnnxTensor> batch(OrtEnvironment env) throws OrtException {
        long[] ids = {0, 45, 311, 902, 17, 2, 1, 0, 1200, 7, 64, 1999, 388, 2};
        long[] mask = {1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1};
        long[] dec = {2, 0, 45, 311, 902, 2, 0, 1200, 7, 64};
        Map<String, OnnxTensor> m = new HashMap<>();
        m.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {2, 7}));
        m.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {2, 7}));
        m.put("decoder_input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(dec), new long[] {2, 5}));
        return m;
    }

    static float[] of(OrtSession s, Map<String, OnnxTensor> inputs, OrtSession.RunOptions ro) throws OrtException {
        try (OrtSession.Result r = ro == null ? s.run(inputs) : s.run(inputs, ro)) {
            FloatBuffer b = ((OnnxTensor) r.get("logits").orElseThrow()).getFloatBuffer();
            float[] out = new float[b.remaining()];
            b.get(out);
            return out;
        }
    }

    static float[] of(Path model, Map<String, OnnxTensor> inputs) throws OrtException {
        try (OrtSession s = Sessions.create(model, OPTIONS)) {
            return of(s, inputs, null);
        }
    }

    static double maxAbs(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError(a.length + " vs " + b.length + " logits");
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    static void close(Map<String, OnnxTensor> inputs) {
        inputs.values().forEach(OnnxTensor::close);
    }

    /** Trained-looking adapters: gaussian A, B ~ N(0, 0.1²), per seed. */
    static AdapterSource nonZero(long seed) {
        return nonZero(seed, 0.1);
    }

    /** The same with B ~ N(0, std²). */
    static AdapterSource nonZero(long seed, double std) {
        AdapterSource init = new AdapterInit(LoraConfig.Init.GAUSSIAN, seed);
        return (p, r, s) -> {
            AdapterTensors a = init.valuesFor(p, r, s);
            SplittableRandom rng = new SplittableRandom(seed * 1_000_003L + p.modulePath().hashCode());
            double[] b = new double[a.b().length];
            for (int i = 0; i < b.length; i++) {
                b[i] = rng.nextGaussian() * std;
            }
            return new AdapterTensors(a.in(), a.out(), r, s, a.a(), b);
        };
    }
}
