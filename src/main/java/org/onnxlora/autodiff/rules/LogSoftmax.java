package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;

/** {@code Y = LogSoftmax(X, axis)} (opset 13+): {@code dX = g − exp(Y)·Σ_axis g}. */
public final class LogSoftmax implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String g = ctx.GO(0);
        long axis = Attrs.getInt(ctx.node(), "axis", -1);
        String s = ctx.builder().sumKeepDims(g, ctx.builder().ints(axis));
        String[] r = ctx.results();
        r[0] = e.op("Sub", g, e.op("Mul", e.op("Exp", ctx.O(0)), s));
        return r;
    }
}
