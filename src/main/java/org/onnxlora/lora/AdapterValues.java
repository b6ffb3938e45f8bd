package org.onnxlora.lora;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Trained adapter values as they cross module boundaries (checkpoint, merge, eval, interop, the
 * training session): float32 factors keyed by the patched graph's tensor names
 * ({@code model.encoder.layers.0.self_attn.q_proj.lora_A}), in file order. Immutable: the map and
 * the arrays are copied in, and {@link #get} hands out a copy, so a holder can never change what
 * another one sees.
 *
 * <p>This is the graph's view of an adapter; ranks and alphas come from the patched model it belongs
 * to, and {@link PatchedAdapters#read} joins the two into an {@link Adapter} (by module path).
 */
public final class AdapterValues {
    private static final AdapterValues NONE = new AdapterValues(Map.of());

    private final Map<String, float[]> byTensor;

    private AdapterValues(Map<String, float[]> byTensor) {
        Map<String, float[]> copy = new LinkedHashMap<>();
        byTensor.forEach((k, v) -> copy.put(k, v.clone()));
        this.byTensor = Collections.unmodifiableMap(copy);
    }

    /** Values by tensor name, copied. */
    public static AdapterValues of(Map<String, float[]> byTensor) {
        return byTensor.isEmpty() ? NONE : new AdapterValues(byTensor);
    }

    /** No values: a merge or eval that uses the factors stored in the model. */
    public static AdapterValues none() {
        return NONE;
    }

    public boolean isEmpty() {
        return byTensor.isEmpty();
    }

    public int size() {
        return byTensor.size();
    }

    /** Tensor names, in file order. */
    public Set<String> names() {
        return byTensor.keySet();
    }

    public boolean contains(String tensor) {
        return byTensor.containsKey(tensor);
    }

    /** A copy of one tensor's values, or null when these values do not hold it. */
    public float[] get(String tensor) {
        float[] v = byTensor.get(tensor);
        return v == null ? null : v.clone();
    }

    /** Number of values of one tensor, or -1 when absent; no copy. */
    public int length(String tensor) {
        float[] v = byTensor.get(tensor);
        return v == null ? -1 : v.length;
    }

    /** Every tensor in order; the arrays are read-only by contract (no copy, for large adapters). */
    public void forEach(BiConsumer<String, float[]> action) {
        byTensor.forEach(action);
    }

    /** The same values with one tensor replaced or added. */
    public AdapterValues with(String tensor, float[] values) {
        Map<String, float[]> m = new LinkedHashMap<>(byTensor);
        m.put(tensor, values);
        return new AdapterValues(m);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof AdapterValues other) || !other.byTensor.keySet().equals(byTensor.keySet())) {
            return false;
        }
        for (Map.Entry<String, float[]> e : byTensor.entrySet()) {
            if (!java.util.Arrays.equals(e.getValue(), other.byTensor.get(e.getKey()))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public int hashCode() {
        int h = 0;
        for (Map.Entry<String, float[]> e : byTensor.entrySet()) {
            h += e.getKey().hashCode() ^ java.util.Arrays.hashCode(e.getValue());
        }
        return h;
    }

    @Override
    public String toString() {
        return "AdapterValues" + byTensor.keySet();
    }
}
