package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code com.microsoft:Gelu}, {@code Y = x·Φ(x)}: {@code dX = g·(Φ(x) + x·φ(x))}, Φ via Erf, φ the normal density. */
public final class Gelu implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String x = ctx.I(0);
        String cdf = e.op("Mul", e.scalar(0.5, x),
                e.op("Add", e.scalar(1, x), e.op("Erf", e.op("Mul", x, e.scalar(1 / Math.sqrt(2), x)))));
        String pdf = e.op("Mul", e.op("Exp", e.op("Mul", e.op("Mul", x, x), e.scalar(-0.5, x))),
                e.scalar(1 / Math.sqrt(2 * Math.PI), x));
        String[] r = ctx.results();
        r[0] = e.op("Mul", ctx.GO(0), e.op("Add", cdf, e.op("Mul", x, pdf)));
        return r;
    }
}
