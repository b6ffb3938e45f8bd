package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = A / B}: {@code dA = unbroadcast(g/B)}, {@code dB = unbroadcast(−g·Y/B)} (reusing Y saves a square). */
public final class Div implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String g = ctx.GO(0);
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            r[0] = e.unbroadcast(e.op("Div", g, ctx.I(1)), ctx.I(0), ctx.O(0));
        }
        if (ctx.isGradientRequired(1)) {
            String t = e.op("Neg", e.op("Div", e.op("Mul", g, ctx.O(0)), ctx.I(1)));
            r[1] = e.unbroadcast(t, ctx.I(1), ctx.O(0));
        }
        return r;
    }
}
