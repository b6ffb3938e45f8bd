package org.onnxlora.autodiff;

import java.util.function.DoubleUnaryOperator;
import org.onnxlora.autodiff.Models.Value;

/** Float64 Java references for ops whose forward ORT's CPU build cannot run in double. */
final class Ref {
    private Ref() {}

    /** erf by its Maclaurin series, exact to ~1e-15 for the |x| ≤ 3 the tests use. */
    static double erf(double x) {
        if (Math.abs(x) > 3) {
            throw new IllegalArgumentException("reference erf used outside [-3, 3]");
        }
        double sum = 0;
        double term = x;
        for (int n = 0; n < 200; n++) {
            double t = term / (2 * n + 1);
            sum += t;
            if (Math.abs(t) < 1e-18) {
                break;
            }
            term *= -x * x / (n + 1);
        }
        return 2 / Math.sqrt(Math.PI) * sum;
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    static double fastGelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static Value map(Value v, DoubleUnaryOperator f) {
        double[] out = new double[v.data().length];
        for (int i = 0; i < out.length; i++) {
            out[i] = f.applyAsDouble(v.data()[i]);
        }
        return new Value(out, v.shape());
    }

    /**
     * {@code alpha · op(A) · op(B)} over the last two axes with numpy batch broadcasting
     * (operands of rank ≥ 2), the semantics of com.microsoft:FusedMatMul.
     */
    static Value matmul(Value a, boolean ta, Value b, boolean tb, double alpha) {
        int ra = a.shape().length;
        int rb = b.shape().length;
        long m = ta ? a.shape()[ra - 1] : a.shape()[ra - 2];
        long k = ta ? a.shape()[ra - 2] : a.shape()[ra - 1];
        long n = tb ? b.shape()[rb - 2] : b.shape()[rb - 1];
        int batchRank = Math.max(ra, rb) - 2;
        long[] batch = new long[batchRank];
        for (int i = 0; i < batchRank; i++) {
            long da = dimFromEnd(a.shape(), batchRank - i + 1);
            long db = dimFromEnd(b.shape(), batchRank - i + 1);
            batch[i] = Math.max(da, db);
        }
        long batches = 1;
        for (long d : batch) {
            batches *= d;
        }
        long[] outShape = new long[batchRank + 2];
        System.arraycopy(batch, 0, outShape, 0, batchRank);
        outShape[batchRank] = m;
        outShape[batchRank + 1] = n;
        double[] out = new double[(int) (batches * m * n)];
        long[] idx = new long[batchRank];
        for (int bi = 0; bi < batches; bi++) {
            long rem = bi;
            for (int i = batchRank - 1; i >= 0; i--) {
                idx[i] = rem % batch[i];
                rem /= batch[i];
            }
            long offA = batchOffset(a.shape(), idx) * m * k;
            long offB = batchOffset(b.shape(), idx) * k * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double av = a.data()[(int) (offA + (ta ? p * m + i : i * k + p))];
                        double bv = b.data()[(int) (offB + (tb ? j * k + p : p * n + j))];
                        s += av * bv;
                    }
                    out[(int) (bi * m * n + i * n + j)] = alpha * s;
                }
            }
        }
        return new Value(out, outShape);
    }

    private static long dimFromEnd(long[] shape, int fromEnd) {
        int i = shape.length - 1 - fromEnd;
        return i >= 0 ? shape[i] : 1;
    }

    /** Flat batch index of {@code idx} (broadcast batch coordinates) within an operand's own batch dims. */
    private static long batchOffset(long[] shape, long[] idx) {
        int own = shape.length - 2;
        long off = 0;
        for (int i = 0; i < own; i++) {
            long d = shape[i];
            long c = idx[idx.length - own + i];
            off = off * d + (d == 1 ? 0 : c);
        }
        return off;
    }
}
