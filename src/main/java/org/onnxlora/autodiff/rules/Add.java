package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = A + B} (broadcasting): each operand gets {@code g} summed back to its shape. */
public final class Add implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String[] r = ctx.results();
        for (int i = 0; i < 2; i++) {
            if (ctx.isGradientRequired(i)) {
                r[i] = e.unbroadcast(ctx.GO(0), ctx.I(i), ctx.O(0));
            }
        }
        return r;
    }
}
