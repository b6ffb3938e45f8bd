package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/**
 * {@code com.microsoft:Gelu}, {@code Y = x·Φ(x)}: {@code dX = g·(Φ(x) + x·φ(x))}, Φ via Erf, φ the normal density.
 *
 * <p>Written as {@code ½·g·(1 + erf(u) + (2/√π)·u·e^(−u²))} with {@code u = x/√2}, which is the same value in
 * nine FFN-wide passes instead of eleven: the density's constant rides in the exponent
 * ({@code e^(ln(2/√π) − u²)}), and the overall ½ is a scalar {@code Mul} last, which the backward's scale folding
 * moves into the {@code alpha} of the product that reads it (fc1's input gradient). Stock ORT has no GeluGrad
 * outside its training build, so fewer elementwise passes is what can be saved.
 */
public final class Gelu implements GradientRule {
    /** ln(2/√π): e^(c − u²) is the erf derivative (2/√π)·e^(−u²) without a separate scaling pass. */
    public static final double LOG_ERF_DENSITY_SCALE = Math.log(2 / Math.sqrt(Math.PI));

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String x = ctx.I(0);
        String u = e.op("Mul", x, e.scalar(1 / Math.sqrt(2), x));
        String erfDerivative = e.op("Exp", e.op("Sub", e.scalar(LOG_ERF_DENSITY_SCALE, x), e.op("Mul", u, u)));
        String twice = e.op("Add", e.op("Add", e.op("Erf", u), e.op("Mul", u, erfDerivative)), e.scalar(1, x));
        String[] r = ctx.results();
        r[0] = e.op("Mul", e.op("Mul", ctx.GO(0), twice), e.scalar(0.5, x));
        return r;
    }
}
