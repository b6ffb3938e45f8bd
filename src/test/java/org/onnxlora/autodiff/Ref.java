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
}
