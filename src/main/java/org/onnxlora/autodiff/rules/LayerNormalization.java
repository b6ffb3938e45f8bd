package org.onnxlora.autodiff.rules;

import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.LayerNormStatistics;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * {@code Y = LayerNormalization(X, γ, β, axis, ε)}. With {@code N} the normalised
 * size, {@code x̂ = (X−μ)·σ⁻¹} and {@code ĝ = g·γ}, sums over the normalised axes:
 * {@code dX = σ⁻¹·(ĝ − (Σĝ + x̂·Σ(ĝ·x̂))/N)}, {@code dγ = Σ g·x̂},
 * {@code dβ = Σ g}.
 *
 * <p>When only the last axis is normalised and X's rank is known (every
 * transformer), the sums run over that axis in X's own shape, so nothing is
 * reshaped; otherwise X is flattened to {@code [M, N]} at the axis and the result
 * reshaped back. N is a constant when the normalised dims are known.
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
        List<Dim> xs = e.shapes().shape(x);
        boolean lastAxisOnly = xs != null && !xs.isEmpty() && (axis == -1 || axis == xs.size() - 1);
        String x2 = lastAxisOnly ? x : b.op("Flatten", x, Attrs.i("axis", axis));
        String inverseN = inverseSize(e, b, x, x2, xs, axis);
        String rows = b.ints(-1);
        String mean;
        String invStd;
        String centred = null;
        int stash = (int) Attrs.getInt(n, "stash_type", 1);
        if (ctx.hasOutput(1) && ctx.hasOutput(2) && e.types().dtype(x) == stash) {
            mean = lastAxisOnly ? ctx.O(1) : e.reshape(ctx.O(1), b.ints(-1, 1));
            invStd = lastAxisOnly ? ctx.O(2) : e.reshape(ctx.O(2), b.ints(-1, 1));
        } else {
            LayerNormStatistics stats = LayerNormStatistics.twoPass(b, x2, rows, inverseN,
                    e.scalar(Attrs.getFloat(n, "epsilon", 1e-5f), x), null, null);
            mean = stats.mean();
            centred = stats.centred();
            invStd = stats.invStd();
        }
        String xhat = e.op("Mul", centred != null ? centred : e.op("Sub", x2, mean), invStd);
        String[] r = ctx.results();
        if (ctx.isGradientRequired(0)) {
            String gh = e.op("Mul", g, ctx.I(1));
            if (!lastAxisOnly) {
                gh = b.op("Flatten", gh, Attrs.i("axis", axis));
            }
            String s1 = b.sumKeepDims(gh, rows);
            String s2 = b.sumKeepDims(e.op("Mul", gh, xhat), rows);
            String mixed = e.op("Mul", e.op("Add", s1, e.op("Mul", xhat, s2)), inverseN);
            String dx2 = e.op("Mul", invStd, e.op("Sub", gh, mixed));
            r[0] = lastAxisOnly ? dx2 : e.reshapeLike(dx2, x);
        }
        if (ctx.isGradientRequired(1)) {
            r[1] = e.unbroadcast(e.op("Mul", g, lastAxisOnly ? xhat : e.reshapeLike(xhat, x)), ctx.I(1), y);
        }
        if (ctx.isGradientRequired(2)) {
            r[2] = e.unbroadcast(g, ctx.I(2), y);
        }
        return r;
    }

    /** 1/N as a scalar of X's type: a constant when the normalised dims are known. */
    private static String inverseSize(GradEmitter e, GraphBuilder b, String x, String x2, List<Dim> xs, long axis) {
        if (xs != null) {
            long a = axis < 0 ? axis + xs.size() : axis;
            long size = 1;
            for (int i = (int) a; i < xs.size() && size > 0; i++) {
                size = xs.get(i).isConstant() ? size * xs.get(i).constant() : -1;
            }
            if (a >= 0 && size > 0) {
                return e.scalar(1.0 / size, x);
            }
        }
        return e.op("Div", e.scalar(1, x), e.castLike(e.op("Gather", e.shape(x2), b.ints(-1)), x));
    }
}
