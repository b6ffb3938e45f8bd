package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.shape.SymbolicShapes;

/**
 * {@code Y = A·B} with numpy semantics (batched, broadcasting, 1-D operands
 * promoted). {@code dA = unbroadcast(g·Bᵀ)}, {@code dB = unbroadcast(Aᵀ·g)}.
 *
 * <p>The common case, a 2-D weight {@code B [K,N]} under N-D activations:
 * {@code dA = g·Bᵀ} is one FusedMatMul (transB, so the frozen weight is never
 * transposed in the graph; A's batch axes are Y's, so nothing is reduced), and
 * {@code dB = A₂ᵀ·g₂} one Gemm (transA) over the batch axes folded into rows,
 * which also sums over the batch without a ReduceSum. Operands of unknown rank
 * are assumed to be at least 2-D (true of every exported transformer); 1-D
 * operands are handled when their rank is known.
 */
public final class MatMul implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        SymbolicShapes t = e.shapes();
        String a = ctx.I(0);
        String b = ctx.I(1);
        String g = ctx.GO(0);
        boolean a1 = t.rank(a) == 1;
        boolean b1 = t.rank(b) == 1;
        String[] r = ctx.results();
        if (t.rank(b) == 2 && !a1) {
            if (ctx.isGradientRequired(0)) {
                r[0] = t.rank(a) >= 2 ? e.matmul(g, false, b, true, 1)
                        : e.reshapeLike(e.gemm(e.foldLeading(g), false, b, true, 1), a);
            }
            if (ctx.isGradientRequired(1)) {
                r[1] = e.gemm(e.foldLeading(a), true, e.foldLeading(g), false, 1);
            }
            return r;
        }
        // General case: promote 1-D operands as MatMul does, then undo the promotion.
        String gp = g;
        if (b1) {
            gp = e.op("Unsqueeze", gp, ctx.builder().ints(-1));
        }
        if (a1) {
            gp = e.op("Unsqueeze", gp, ctx.builder().ints(-2));
        }
        String ap = a1 ? e.op("Unsqueeze", a, ctx.builder().ints(0)) : a;
        String bp = b1 ? e.op("Unsqueeze", b, ctx.builder().ints(1)) : b;
        if (ctx.isGradientRequired(0)) {
            r[0] = e.unbroadcast(e.matmul(gp, false, bp, true, 1), a, null);
        }
        if (ctx.isGradientRequired(1)) {
            String db = e.matmul(ap, true, gp, false, 1);
            if (b1) {
                db = e.op("Squeeze", db, ctx.builder().ints(-1));
            }
            r[1] = e.unbroadcast(db, b, null);
        }
        return r;
    }

    /** A 0/1 attribute of a product node (transA, transB). */
    static boolean flag(org.onnxlora.proto.Onnx.NodeProto n, String name) {
        return Attrs.getInt(n, name, 0) != 0;
    }
}
