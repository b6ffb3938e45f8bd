package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One float value per adapter element (parameters, a gradient or a moment) in a single direct
 * buffer laid out by {@link AdapterLayout}, wrapped once as ONNX Runtime tensors: the whole buffer
 * as one 1-d tensor (what the optimizer reads and writes) and each adapter as a tensor over its
 * slice (what the training graph reads and writes). ONNX Runtime uses a native-order direct
 * buffer in place, so all of these tensors share the same memory: an output pinned into a view
 * lands in the flat buffer, and nothing is concatenated or split per step.
 */
final class FlatAdapterBuffer implements AutoCloseable {
    private final AdapterLayout layout;
    private final FloatBuffer flat;
    private final OnnxTensor flatTensor;
    private final Map<String, FloatBuffer> slices = new LinkedHashMap<>();
    private final Map<String, OnnxTensor> views = new LinkedHashMap<>();

    FlatAdapterBuffer(OrtEnvironment env, AdapterLayout layout) throws OrtException {
        this.layout = layout;
        int bytes = layout.elements() * Float.BYTES;
        // alignedSlice: the first tensor starts on a 64-byte boundary like the others
        this.flat = ByteBuffer.allocateDirect(bytes + 64).alignedSlice(64).limit(bytes).slice()
                .order(ByteOrder.nativeOrder()).asFloatBuffer();
        List<OnnxTensor> made = new ArrayList<>();
        try {
            made.add(OnnxTensor.createTensor(env, flat, new long[] {layout.elements()}));
            for (AdapterSpec s : layout.specs()) {
                FloatBuffer slice = slice(layout.offset(s.name()), (int) s.elements());
                slices.put(s.name(), slice);
                OnnxTensor t = OnnxTensor.createTensor(env, slice, s.dims());
                made.add(t);
                views.put(s.name(), t);
            }
        } catch (OrtException | RuntimeException e) {
            made.forEach(OnnxTensor::close);
            throw e;
        }
        this.flatTensor = made.get(0);
    }

    private FloatBuffer slice(int offset, int length) {
        return flat.duplicate().position(offset).limit(offset + length).slice();
    }

    /** The whole buffer as one tensor of {@link AdapterLayout#elements()} floats. */
    OnnxTensor flat() {
        return flatTensor;
    }

    /** Each adapter's slice as a tensor of the adapter's shape, by adapter name. */
    Map<String, OnnxTensor> views() {
        return views;
    }

    /** A copy of adapter {@code name}'s values. */
    float[] read(String name) {
        FloatBuffer s = slices.get(name).duplicate().rewind();
        float[] out = new float[s.remaining()];
        s.get(out);
        return out;
    }

    void write(String name, float[] values) {
        FloatBuffer s = slices.get(name);
        if (values.length != s.capacity()) {
            throw new org.onnxlora.OnnxLoraException(org.onnxlora.ErrorCode.TARGET_MISMATCH, "'" + name + "' has "
                    + values.length + " values, expected " + s.capacity());
        }
        s.duplicate().rewind().put(values);
    }

    /** A copy of the whole buffer, adapters in {@link AdapterLayout} order. */
    float[] readAll() {
        float[] out = new float[layout.elements()];
        flat.duplicate().rewind().get(out);
        return out;
    }

    void writeAll(float[] values) {
        if (values.length != layout.elements()) {
            throw new org.onnxlora.OnnxLoraException(org.onnxlora.ErrorCode.TARGET_MISMATCH, "flat adapter buffer has "
                    + layout.elements() + " values, given " + values.length);
        }
        flat.duplicate().rewind().put(values);
    }

    /** {@code this += other}, element by element (gradient accumulation). */
    void add(FlatAdapterBuffer other) {
        FloatBuffer from = other.flat;
        for (int i = 0, n = layout.elements(); i < n; i++) {
            flat.put(i, flat.get(i) + from.get(i));
        }
    }

    @Override
    public void close() {
        views.values().forEach(OnnxTensor::close);
        flatTensor.close();
    }
}
