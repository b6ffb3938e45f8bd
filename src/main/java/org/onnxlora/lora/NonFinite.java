package org.onnxlora.lora;

import java.util.Optional;

/**
 * The first NaN or infinity in an adapter's factors or scaling. A diverged run leaves such values in
 * its checkpoints, and folding them into a model writes NaN weights that fail only later, far from
 * the cause; the commands that write adapters into models or files refuse them unless told otherwise.
 *
 * @param tensor the tensor's name in its source (PEFT key or onnx-lora tensor name)
 * @param index the element's position in the tensor (-1 for a scaling)
 */
public record NonFinite(String tensor, int index, int size, double value) {

    /** "'x.lora_A' holds NaN (element 17 of 512)". */
    public String describe() {
        String v = Double.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
        return "'" + tensor + "' holds " + v + (index < 0 ? " as its scaling" : " (element " + index + " of " + size + ")");
    }

    public static Optional<NonFinite> in(String tensor, double[] values) {
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(values[i])) {
                return Optional.of(new NonFinite(tensor, i, values.length, values[i]));
            }
        }
        return Optional.empty();
    }

    /** The first non-finite scaling or factor value of one module. */
    public static Optional<NonFinite> in(String keyA, String keyB, AdapterTensors t) {
        if (!Double.isFinite(t.scaling())) {
            return Optional.of(new NonFinite(keyA, -1, 1, t.scaling()));
        }
        Optional<NonFinite> a = in(keyA, t.a());
        return a.isPresent() ? a : in(keyB, t.b());
    }

    /** The first non-finite value of any module of {@code adapter}, in file order. */
    public static Optional<NonFinite> in(Adapter adapter) {
        for (Adapter.Module m : adapter.modules().values()) {
            Optional<NonFinite> f = in(m.keyA(), m.keyB(), m.tensors());
            if (f.isPresent()) {
                return f;
            }
        }
        return Optional.empty();
    }
}
