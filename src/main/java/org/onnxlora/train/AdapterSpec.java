package org.onnxlora.train;

/** A trainable tensor as the artifacts see it: name, shape and element type. */
public record AdapterSpec(String name, long[] dims, int dataType) {
    public long elements() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
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
