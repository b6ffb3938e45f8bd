package org.onnxlora.lora;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * The two factors of one LoRA adapter in onnx-lora's layout, row-major:
 * {@code a} is {@code [in, r]}, {@code b} is {@code [r, out]}, and the update is
 * {@code scaling · a·b}. (PEFT stores the transposes: lora_A.weight {@code [r,in]},
 * lora_B.weight {@code [out,r]}.)
 */
public record AdapterTensors(long in, long out, int rank, double scaling, double[] a, double[] b) {
    public AdapterTensors {
        if (in < 0 || out < 0 || rank < 0 || (long) a.length != in * rank || (long) b.length != rank * out) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter factors of " + a.length + " and "
                    + b.length + " values do not fit [" + in + "," + rank + "]·[" + rank + "," + out + "]");
        }
    }

    /**
     * Elements of one factor, {@code features × rank}, refused with a message naming the module when
     * it cannot be a Java array: a model's dims are what its file claims, and {@code int} arithmetic
     * on them would overflow into a negative or wrong array size.
     */
    static int factorSize(String module, long features, int rank) {
        if (features < 1 || rank < 1) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, module + ": cannot make a rank-" + rank
                    + " adapter for " + features + " features");
        }
        if (features > MAX_ELEMENTS / rank) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, module + ": a rank-" + rank + " adapter for "
                    + features + " features would hold more than " + MAX_ELEMENTS + " values (is the weight's shape right?)");
        }
        return (int) (features * rank);
    }

    /** The largest array a JVM reliably allocates. */
    static final int MAX_ELEMENTS = Integer.MAX_VALUE - 8;

    /** {@code scaling · a·b} as a row-major {@code [in, out]} matrix, accumulated in double. */
    public double[] delta() {
        if (in > MAX_ELEMENTS / Math.max(1, out)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "an update of " + in + "x" + out
                    + " values does not fit a Java array");
        }
        int n = (int) in;
        int m = (int) out;
        double[] d = new double[n * m];
        for (int i = 0; i < n; i++) {
            int rowA = i * rank;
            int rowD = i * m;
            for (int k = 0; k < rank; k++) {
                double aik = a[rowA + k] * scaling;
                if (aik == 0) {
                    continue;
                }
                int rowB = k * m;
                for (int j = 0; j < m; j++) {
                    d[rowD + j] += aik * b[rowB + j];
                }
            }
        }
        return d;
    }
}
