package org.onnxlora.lora;

import java.util.Arrays;
import java.util.function.IntToDoubleFunction;
import org.onnxlora.io.FloatTensorBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Computes one merged weight, {@code W = W0 + (scaling·A·B) / gemmAlpha}, one output row
 * at a time: the row of the update is accumulated in double, added to W0's row read in
 * place from its bytes (a view of the mapped model), and rounded once into the output's
 * dtype. Memory is the output tensor plus one row, where widening W0 and the update to
 * whole {@code double[]} matrices cost 16 bytes per element of garbage (1.15 GB over
 * bart-large's 72 projections, which made G1 grow the heap).
 *
 * <p>Every element goes through the same floating-point operations, in the same order,
 * as {@link AdapterTensors#delta()} followed by the addition: products
 * {@code (a[i,k]·scaling)·b[k,j]} summed over ascending k from 0.0 (skipping zero
 * {@code a[i,k]·scaling}), divided by gemmAlpha, added to W0. So the result is bit for bit
 * what the whole-matrix computation gave.
 */
final class MergedWeight {
    private MergedWeight() {}

    /**
     * @param w0 the weight, {@code [out, in]} when {@code w0Transposed}, else {@code [in, out]}
     * @param outTransposed lay the result out as {@code [out, in]} (else {@code [in, out]})
     */
    static TensorProto of(String name, TensorProto w0, boolean w0Transposed, AdapterTensors ad, float gemmAlpha,
            boolean outTransposed) {
        int in = Math.toIntExact(ad.in());
        int out = Math.toIntExact(ad.out());
        int r = ad.rank();
        double[] a = new double[in * r];
        for (int x = 0; x < a.length; x++) {
            a[x] = ad.a()[x] * ad.scaling();
        }
        double[] b = ad.b();
        IntToDoubleFunction base = Tensors.reader(w0);
        long[] dims = outTransposed ? new long[] {out, in} : new long[] {in, out};
        FloatTensorBuilder merged = new FloatTensorBuilder(name, dims, w0.getDataType());
        if (!outTransposed) {
            double[] row = new double[out];
            for (int i = 0; i < in; i++) {
                Arrays.fill(row, 0.0);
                for (int k = 0; k < r; k++) {
                    double aik = a[i * r + k];
                    if (aik == 0) {
                        continue;
                    }
                    int rowB = k * out;
                    for (int j = 0; j < out; j++) {
                        row[j] += aik * b[rowB + j];
                    }
                }
                for (int j = 0; j < out; j++) {
                    int at = w0Transposed ? j * in + i : i * out + j;
                    merged.set(i * out + j, base.applyAsDouble(at) + row[j] / gemmAlpha);
                }
            }
        } else {
            double[] row = new double[in];
            for (int j = 0; j < out; j++) {
                Arrays.fill(row, 0.0);
                for (int k = 0; k < r; k++) {
                    double bkj = b[k * out + j];
                    for (int i = 0; i < in; i++) {
                        double aik = a[i * r + k];
                        if (aik != 0) {
                            row[i] += aik * bkj;
                        }
                    }
                }
                for (int i = 0; i < in; i++) {
                    int at = w0Transposed ? j * in + i : i * out + j;
                    merged.set(j * in + i, base.applyAsDouble(at) + row[i] / gemmAlpha);
                }
            }
        }
        return merged.build();
    }
}
