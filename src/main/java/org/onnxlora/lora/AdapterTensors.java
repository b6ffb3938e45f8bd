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
        if ((long) a.length != in * rank || (long) b.length != rank * out) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter factors of " + a.length + " and "
                    + b.length + " values do not fit [" + in + "," + rank + "]·[" + rank + "," + out + "]");
        }
    }

    /** {@code scaling · a·b} as a row-major {@code [in, out]} matrix, accumulated in double. */
    public double[] delta() {
        int n = Math.toIntExact(in);
        int m = Math.toIntExact(out);
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
