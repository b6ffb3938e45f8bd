package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = tanh(X)}: {@code dX = g·(1 − Y²)}. */
public final class Tanh implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String y = ctx.O(0);
        String[] r = ctx.results();
        r[0] = e.op("Mul", ctx.GO(0), e.op("Sub", e.scalar(1, y), e.op("Mul", y, y)));
        return r;
    }
}
