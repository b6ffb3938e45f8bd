package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = A − B}: {@code dA = unbroadcast(g)}, {@code dB = −unbroadcast(g)} (negated after reducing: fewer elements). */
public final class Sub implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            r[0] = e.unbroadcast(ctx.GO(0), ctx.I(0), ctx.O(0));
        }
        if (ctx.isGradientRequired(1)) {
            r[1] = e.op("Neg", e.unbroadcast(ctx.GO(0), ctx.I(1), ctx.O(0)));
        }
        return r;
    }
}
