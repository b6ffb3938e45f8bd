package org.onnxlora.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Half;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Fabricates valid inputs for a seq2seq model: token ids inside the vocabulary
 * (never the special ids 0–4), attention masks that are 1 on a prefix of each row
 * (the first row unpadded, others randomly padded), floats for hidden states and
 * past keys/values. A symbolic dimension gets one size shared by every input
 * that names it, so encoder states and masks agree.
 */
public final class RandomInputs {
    private RandomInputs() {}

    /** Masks are the inputs whose name says so. */
    public static Map<String, OnnxTensor> make(OrtEnvironment env, List<InputSpec> specs, long seed) {
        java.util.Set<String> masks = new java.util.HashSet<>();
        specs.stream().filter(InputSpec::isMask).forEach(s -> masks.add(s.name()));
        return make(env, specs, masks, seed);
    }

    /** {@code masks}: the inputs to fill as attention masks (a model's contract says which). */
    public static Map<String, OnnxTensor> make(OrtEnvironment env, List<InputSpec> specs, java.util.Set<String> masks,
            long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Long> sizes = new HashMap<>();
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            for (InputSpec s : specs) {
                long[] shape = new long[s.dims().length];
                for (int i = 0; i < shape.length; i++) {
                    if (s.dims()[i] >= 0) {
                        shape[i] = s.dims()[i];
                    } else {
                        // Axis 0 is the batch everywhere, whatever each input calls it: the dynamo
                        // exporter gives input_ids and attention_mask different batch symbols.
                        String key = i == 0 ? "batch" : s.dimParams()[i].isEmpty() ? s.name() + "#" + i : s.dimParams()[i];
                        boolean batch = key.toLowerCase(java.util.Locale.ROOT).contains("batch");
                        shape[i] = sizes.computeIfAbsent(key, k -> batch ? 2L + rng.nextInt(2) : 3L + rng.nextInt(10));
                    }
                }
                feeds.put(s.name(), tensor(env, s, masks.contains(s.name()), shape, rng));
            }
            return feeds;
        } catch (OrtException e) {
            feeds.values().forEach(OnnxTensor::close);
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create inputs: " + e.getMessage(), e);
        }
    }

    private static OnnxTensor tensor(OrtEnvironment env, InputSpec s, boolean isMask, long[] shape, SplittableRandom rng)
            throws OrtException {
        int n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, (int) d);
        }
        int t = s.elemType();
        if (t == DataType.INT64_VALUE || t == DataType.INT32_VALUE) {
            long[] v = new long[n];
            if (isMask && shape.length == 2) {
                int rows = (int) shape[0];
                int cols = (int) shape[1];
                for (int r = 0; r < rows; r++) {
                    int len = r == 0 ? cols : 1 + rng.nextInt(cols);
                    for (int c = 0; c < len; c++) {
                        v[r * cols + c] = 1;
                    }
                }
            } else {
                long vocab = s.vocab() > 5 ? s.vocab() : 1000;
                for (int i = 0; i < n; i++) {
                    v[i] = 5 + rng.nextLong(vocab - 5);
                }
            }
            if (t == DataType.INT32_VALUE) {
                int[] iv = new int[n];
                for (int i = 0; i < n; i++) {
                    iv[i] = (int) v[i];
                }
                return OnnxTensor.createTensor(env, java.nio.IntBuffer.wrap(iv), shape);
            }
            return OnnxTensor.createTensor(env, LongBuffer.wrap(v), shape);
        }
        if (t == DataType.FLOAT_VALUE) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) {
                v[i] = (float) rng.nextGaussian();
            }
            return OnnxTensor.createTensor(env, FloatBuffer.wrap(v), shape);
        }
        if (t == DataType.FLOAT16_VALUE) {
            ByteBuffer b = ByteBuffer.allocateDirect(n * 2).order(ByteOrder.nativeOrder());
            for (int i = 0; i < n; i++) {
                b.putShort(Half.fromFloat((float) rng.nextGaussian()));
            }
            b.rewind();
            return OnnxTensor.createTensor(env, b, shape, OnnxJavaType.FLOAT16);
        }
        if (t == DataType.BOOL_VALUE) {
            ByteBuffer b = ByteBuffer.allocateDirect(n);
            for (int i = 0; i < n; i++) {
                b.put((byte) 1);
            }
            b.rewind();
            return OnnxTensor.createTensor(env, b, shape, OnnxJavaType.BOOL);
        }
        throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                "cannot fabricate a value for input '" + s.name() + "' of element type " + t);
    }
}
