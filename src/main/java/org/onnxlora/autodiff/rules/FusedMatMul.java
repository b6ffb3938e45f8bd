package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.shape.SymbolicShapes;

/**
 * {@code com.microsoft:FusedMatMul}: {@code Y = α·op(A)·op(B)} over the last two
 * axes. With {@code op(X) = Xᵀ} when transposed:
 * {@code dA = α·g·op(B)ᵀ} (transposed back if transA) and {@code dB = α·op(A)ᵀ·g}
 * (transposed back if transB), each written as one more transposed product. A 2-D B under N-D A (not
 * transposed) takes the {@link MatMul} rule's shape: dB as one Gemm over A's batch axes folded into rows.
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
        SymbolicShapes shapes = e.shapes();
        if (!ta && shapes.rank(b) == 2 && shapes.rank(a) >= 2) {
            // A 2-D weight under N-D activations (the LoRA B product LoraBranchFoldPass writes, a tied lm_head):
            // as in MatMul's rule, dA keeps A's batch axes, and dB is one Gemm over the batch axes folded into
            // rows, which sums over the batch itself. The general path below would write a batched product of
            // one [K, N] slice per batch row and a ReduceSum over them.
            if (ctx.isGradientRequired(0)) {
                r[0] = e.matmul(g, false, b, !tb, alpha);
            }
            if (ctx.isGradientRequired(1)) {
                r[1] = tb ? e.gemm(e.foldLeading(g), true, e.foldLeading(a), false, alpha)
                        : e.gemm(e.foldLeading(a), true, e.foldLeading(g), false, alpha);
            }
            return r;
        }
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
