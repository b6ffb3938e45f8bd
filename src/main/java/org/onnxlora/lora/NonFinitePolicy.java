package org.onnxlora.lora;

/** What writing adapters into a model does with NaN or infinite values (see {@link NonFinite}). */
public enum NonFinitePolicy {
    /** Fail, naming the first non-finite value: the default. */
    REFUSE,
    /** Write them anyway; the weights they touch become non-finite. */
    ALLOW
}
