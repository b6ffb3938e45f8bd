package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;

/**
 * {@code Y = Softmax(X, axis)} (opset 13+ semantics: one axis, default −1):
 * {@code dX = Y·g − Y·Σ_axis(Y·g)}. Masked positions (Y = 0) get zero, so
 * attention masks need no special case.
 */
public final class Softmax implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String y = ctx.O(0);
        String yg = e.op("Mul", y, ctx.GO(0));
        long axis = Attrs.getInt(ctx.node(), "axis", -1);
        String s = ctx.builder().sumKeepDims(yg, ctx.builder().ints(axis));
        String[] r = ctx.results();
        r[0] = e.op("Sub", yg, e.op("Mul", y, s));
        return r;
    }
}
