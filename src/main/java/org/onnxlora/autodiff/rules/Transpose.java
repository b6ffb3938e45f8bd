package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;

/** {@code Y = Transpose(X, perm)}: {@code dX = Transpose(g, perm⁻¹)}; the default (reversed axes) is its own inverse. */
public final class Transpose implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        long[] perm = Attrs.getInts(ctx.node(), "perm");
        String[] r = ctx.results();
        if (perm == null) {
            r[0] = ctx.emit().op("Transpose", ctx.GO(0));
            return r;
        }
        long[] inverse = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            inverse[(int) perm[i]] = i;
        }
        r[0] = ctx.builder().op("Transpose", ctx.GO(0), Attrs.ints("perm", inverse));
        return r;
    }
}
