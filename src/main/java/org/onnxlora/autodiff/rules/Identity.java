package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = X}: the gradient passes through. */
public final class Identity implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.GO(0);
        return r;
    }
}
