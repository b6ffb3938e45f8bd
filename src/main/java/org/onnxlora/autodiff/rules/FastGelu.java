package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/**
 * {@code com.microsoft:FastGelu(X, bias?)}, the tanh approximation
 * {@code y = ½x(1 + tanh(c(x + kx³)))} of {@code x = X + bias}, {@code c = √(2/π)},
 * {@code k = 0.044715}: {@code dy/dx = ½(1+t) + ½x(1−t²)·c(1 + 3kx²)}.
 */
public final class FastGelu implements GradientRule {
    private static final double C = Math.sqrt(2 / Math.PI);
    private static final double K = 0.044715;

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String y = ctx.O(0);
        String x = ctx.hasInput(1) ? e.op("Add", ctx.I(0), ctx.I(1)) : ctx.I(0);
        String x2 = e.op("Mul", x, x);
        String inner = e.op("Mul", x, e.op("Add", e.scalar(C, y), e.op("Mul", x2, e.scalar(C * K, y))));
        String t = e.op("Tanh", inner);
        String half = e.scalar(0.5, y);
        String one = e.scalar(1, y);
        String left = e.op("Mul", half, e.op("Add", one, t));
        String slope = e.op("Add", e.scalar(C, y), e.op("Mul", x2, e.scalar(3 * C * K, y)));
        String right = e.op("Mul", e.op("Mul", half, x), e.op("Mul", e.op("Sub", one, e.op("Mul", t, t)), slope));
        String gx = e.op("Mul", ctx.GO(0), e.op("Add", left, right));
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            r[0] = e.unbroadcast(gx, ctx.I(0), y);
        }
        if (ctx.isGradientRequired(1)) {
            r[1] = e.unbroadcast(gx, ctx.I(1), y);
        }
        return r;
    }
}
