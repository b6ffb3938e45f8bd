package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = exp(X)}: {@code dX = g·Y}. */
public final class Exp implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().op("Mul", ctx.GO(0), ctx.O(0));
        return r;
    }
}
