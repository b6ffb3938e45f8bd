package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = A · B} (elementwise, broadcasting): {@code dA = unbroadcast(g·B)}, {@code dB = unbroadcast(g·A)}. */
public final class Mul implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String[] r = ctx.results();
        for (int i = 0; i < 2; i++) {
            if (ctx.isGradientRequired(i)) {
                r[i] = e.unbroadcast(e.op("Mul", ctx.GO(0), ctx.I(1 - i)), ctx.I(i), ctx.O(0));
            }
        }
        return r;
    }
}
