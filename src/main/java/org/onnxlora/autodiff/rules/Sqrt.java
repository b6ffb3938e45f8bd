package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/** {@code Y = √X}: {@code dX = g/(2Y)}. */
public final class Sqrt implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String[] r = ctx.results();
        r[0] = e.op("Div", e.op("Mul", ctx.GO(0), e.scalar(0.5, ctx.O(0))), ctx.O(0));
        return r;
    }
}
