package org.onnxlora.train;

import org.onnxlora.io.Tensors;

/** A trainable tensor as the artifacts see it: name, shape and element type. */
public record AdapterSpec(String name, long[] dims, int dataType) {
    public long elements() {
        return Tensors.product(dims);
    }

    public static String grad(String name) {
        return "grad." + name;
    }

    public static String expAvg(String name) {
        return "exp_avg." + name;
    }

    public static String expAvgSq(String name) {
        return "exp_avg_sq." + name;
    }

    public static String updated(String name) {
        return "new." + name;
    }
}
