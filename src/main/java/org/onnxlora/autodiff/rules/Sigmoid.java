package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = σ(X)}: {@code dX = g·Y·(1 − Y)} (Marian's SiLU FFN exports as {@code X·Sigmoid(X)}). */
public final class Sigmoid implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String y = ctx.O(0);
        String[] r = ctx.results();
        r[0] = e.op("Mul", ctx.GO(0), e.op("Mul", y, e.op("Sub", e.scalar(1, y), y)));
        return r;
    }
}
