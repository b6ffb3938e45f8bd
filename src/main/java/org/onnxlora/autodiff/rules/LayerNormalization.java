package org.onnxlora.autodiff.rules;

import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * {@code Y = LayerNormalization(X, γ, β, axis, ε)}. Working on X flattened to
 * {@code [M, N]} at the axis ({@code N} = normalised size), with
 * {@code x̂ = (X−μ)·σ⁻¹} and {@code ĝ = g·γ}:
 * {@code dX = σ⁻¹·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))}, {@code dγ = Σ g·x̂},
 * {@code dβ = Σ g}.
 *
 * <p>μ and σ⁻¹ come from the node's own Mean/InvStdDev outputs when the forward
 * already has them in X's type; otherwise they are recomputed (two row
 * reductions), because Backprop adds a backward and never rewrites forward nodes.
 * Gradients flowing into Mean/InvStdDev themselves are not supported.
 */
public final class LayerNormalization implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        if (ctx.GO(1) != null || ctx.GO(2) != null) {
            throw ctx.unsupported("gradients through the Mean/InvStdDev outputs are not supported");
        }
        GradEmitter e = ctx.emit();
        GraphBuilder b = ctx.builder();
        NodeProto n = ctx.node();
        long axis = Attrs.getInt(n, "axis", -1);
        String x = ctx.I(0);
        String y = ctx.O(0);
        String g = ctx.GO(0);
        String x2 = b.op("Flatten", x, Attrs.i("axis", axis));
        String inverseN = e.op("Div", e.scalar(1, x), e.castLike(e.op("Gather", e.shape(x2), b.ints(1)), x));
        String rows = b.ints(1);
        String mean;
        String invStd;
        int stash = (int) Attrs.getInt(n, "stash_type", 1);
        if (ctx.hasOutput(1) && ctx.hasOutput(2) && e.types().dtype(x) == stash) {
            mean = e.reshape(ctx.O(1), b.ints(-1, 1));
            invStd = e.reshape(ctx.O(2), b.ints(-1, 1));
        } else {
            mean = e.op("Mul", rowSum(b, x2, rows), inverseN);
            String centred = e.op("Sub", x2, mean);
            String var = e.op("Mul", rowSum(b, e.op("Mul", centred, centred), rows), inverseN);
            double eps = Attrs.getFloat(n, "epsilon", 1e-5f);
            invStd = e.op("Reciprocal", e.op("Sqrt", e.op("Add", var, e.scalar(eps, x))));
        }
        String xhat = e.op("Mul", e.op("Sub", x2, mean), invStd);
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            String gh = b.op("Flatten", e.op("Mul", g, ctx.I(1)), Attrs.i("axis", axis));
            String m1 = e.op("Mul", rowSum(b, gh, rows), inverseN);
            String m2 = e.op("Mul", rowSum(b, e.op("Mul", gh, xhat), rows), inverseN);
            String dx2 = e.op("Mul", invStd, e.op("Sub", e.op("Sub", gh, m1), e.op("Mul", xhat, m2)));
            r[0] = e.reshapeLike(dx2, x);
        }
        if (ctx.isGradientRequired(1)) {
            r[1] = e.unbroadcast(e.op("Mul", g, e.reshapeLike(xhat, x)), ctx.I(1), y);
        }
        if (ctx.isGradientRequired(2)) {
            r[2] = e.unbroadcast(g, ctx.I(2), y);
        }
        return r;
    }

    private static String rowSum(GraphBuilder b, String v, String axes) {
        return b.op("ReduceSum", List.of(v, axes), Attrs.i("keepdims", 1));
    }
}
