package org.onnxlora.lora;

/** Supplies the initial factors of each adapter when a model is patched. */
@FunctionalInterface
public interface AdapterSource {
    /** Factors for {@code projection} at {@code rank} with {@code scaling}. */
    AdapterTensors valuesFor(Projection projection, int rank, double scaling);
}
