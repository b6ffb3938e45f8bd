package org.onnxlora.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Where each adapter tensor lives in one flat float buffer: the adapters in artifact order, each
 * starting on a 64-byte boundary, as ONNX Runtime's own allocator would place it. The optimizer
 * updates the whole buffer at once; the training graph sees each tensor as a view of it.
 *
 * <p>The gaps between tensors are zero in every buffer and AdamW keeps them zero (a zero gradient
 * and zero moments give a zero update, and decay scales zero), so they change neither the
 * global gradient norm nor any adapter.
 */
public final class AdapterLayout {
    /** Floats per alignment unit (64 bytes). */
    static final int ALIGN = 16;

    private final List<AdapterSpec> specs;
    private final Map<String, Integer> offsets = new LinkedHashMap<>();
    private final int elements;

    public AdapterLayout(List<AdapterSpec> specs) {
        this.specs = List.copyOf(specs);
        long at = 0;
        for (AdapterSpec s : this.specs) {
            if (offsets.put(s.name(), (int) at) != null) {
                throw new IllegalArgumentException("adapter '" + s.name() + "' listed twice");
            }
            at = roundUp(at + s.elements());
            if (at > Integer.MAX_VALUE / 4) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the adapters hold more than 2 GB of float32"
                        + " values; use a smaller rank or fewer target modules");
            }
        }
        this.elements = (int) at;
    }

    static long roundUp(long n) {
        return (n + ALIGN - 1) / ALIGN * ALIGN;
    }

    public List<AdapterSpec> specs() {
        return specs;
    }

    /** Length of the flat buffer, gaps included. */
    public int elements() {
        return elements;
    }

    /** Index of the first element of {@code name} in the flat buffer. */
    public int offset(String name) {
        Integer o = offsets.get(name);
        if (o == null) {
            throw new IllegalArgumentException("no adapter '" + name + "' in the layout");
        }
        return o;
    }
}
