package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = −X}: {@code dX = −g}. */
public final class Neg implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().op("Neg", ctx.GO(0));
        return r;
    }
}
