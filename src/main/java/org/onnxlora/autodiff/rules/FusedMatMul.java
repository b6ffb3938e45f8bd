package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;

/**
 * {@code com.microsoft:FusedMatMul}: {@code Y = α·op(A)·op(B)} over the last two
 * axes. With {@code op(X) = Xᵀ} when transposed:
 * {@code dA = α·g·op(B)ᵀ} (transposed back if transA) and {@code dB = α·op(A)ᵀ·g}
 * (transposed back if transB), each written as one more transposed product.
 */
public final class FusedMatMul implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        if (Attrs.getInt(ctx.node(), "transBatchA", 0) != 0 || Attrs.getInt(ctx.node(), "transBatchB", 0) != 0) {
            throw ctx.unsupported("transBatchA/transBatchB are not supported");
        }
        boolean ta = MatMul.flag(ctx.node(), "transA");
        boolean tb = MatMul.flag(ctx.node(), "transB");
        double alpha = Attrs.getFloat(ctx.node(), "alpha", 1f);
        GradEmitter e = ctx.emit();
        String a = ctx.I(0);
        String b = ctx.I(1);
        String g = ctx.GO(0);
        String y = ctx.O(0);
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            String da = ta ? e.matmul(b, tb, g, true, alpha) : e.matmul(g, false, b, !tb, alpha);
            r[0] = e.unbroadcast(da, a, null);
        }
        if (ctx.isGradientRequired(1)) {
            String db = tb ? e.matmul(g, true, a, ta, alpha) : e.matmul(a, !ta, g, false, alpha);
            r[1] = e.unbroadcast(db, b, null);
        }
        return r;
    }
}
