package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = erf(X)}: {@code dX = g·(2/√π)·exp(−X²)}, the constant in the exponent (one pass fewer). */
public final class Erf implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String x = ctx.I(0);
        String density = e.op("Exp", e.op("Sub", e.scalar(Gelu.LOG_ERF_DENSITY_SCALE, x), e.op("Mul", x, x)));
        String[] r = ctx.results();
        r[0] = e.op("Mul", ctx.GO(0), density);
        return r;
    }
}
