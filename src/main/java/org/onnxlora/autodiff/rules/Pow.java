package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;

/**
 * {@code Y = X^E} with E not depending on trainable values (the exported
 * {@code Pow(x, 2)}, {@code Pow(x, 3)}): {@code dX = unbroadcast(g·E·X^(E−1))}.
 */
public final class Pow implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        if (ctx.isGradientRequired(1)) {
            throw ctx.unsupported("the exponent depends on a trainable value; only constant exponents are supported");
        }
        GradEmitter e = ctx.emit();
        String x = ctx.I(0);
        String exponent = ctx.I(1);
        String lowered = e.op("Pow", x, e.op("Sub", exponent, e.scalar(1, exponent)));
        String local = e.op("Mul", lowered, e.castLike(exponent, x));
        String[] r = ctx.results();
        r[0] = e.unbroadcast(e.op("Mul", ctx.GO(0), local), x, ctx.O(0));
        return r;
    }
}
