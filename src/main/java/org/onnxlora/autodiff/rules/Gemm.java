package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;

/**
 * {@code Y = α·op(A)·op(B) + β·C} (2-D). The same algebra as FusedMatMul, each
 * gradient one Gemm with transposes as attributes; {@code dC = β·unbroadcast(g)}.
 */
public final class Gemm implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        boolean ta = MatMul.flag(ctx.node(), "transA");
        boolean tb = MatMul.flag(ctx.node(), "transB");
        double alpha = Attrs.getFloat(ctx.node(), "alpha", 1f);
        double beta = Attrs.getFloat(ctx.node(), "beta", 1f);
        GradEmitter e = ctx.emit();
        String a = ctx.I(0);
        String b = ctx.I(1);
        String g = ctx.GO(0);
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            r[0] = ta ? e.gemm(b, tb, g, true, alpha) : e.gemm(g, false, b, !tb, alpha);
        }
        if (ctx.isGradientRequired(1)) {
            r[1] = tb ? e.gemm(g, true, a, ta, alpha) : e.gemm(a, !ta, g, false, alpha);
        }
        if (ctx.isGradientRequired(2)) {
            String gc = beta == 1.0 ? g : e.op("Mul", g, e.scalar(beta, ctx.O(0)));
            r[2] = e.unbroadcast(gc, ctx.I(2), ctx.O(0));
        }
        return r;
    }
}
