package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = log(X)}: {@code dX = g/X}. */
public final class Log implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().op("Div", ctx.GO(0), ctx.I(0));
        return r;
    }
}
