package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * ReduceSum and ReduceMean, axes given as attribute (older opsets) or input
 * (ReduceSum 13+, ReduceMean 18+): {@code g} is re-expanded to X's shape
 * (unsqueezing the reduced axes first when {@code keepdims=0}); for the mean it is
 * scaled by {@code |Y|/|X|}, the reciprocal of the number of elements averaged,
 * which holds for every axes/keepdims/noop combination.
 */
public final class Reduce implements GradientRule {
    private final boolean mean;

    private Reduce(boolean mean) {
        this.mean = mean;
    }

    public static Reduce sum() {
        return new Reduce(false);
    }

    public static Reduce mean() {
        return new Reduce(true);
    }

    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        NodeProto n = ctx.node();
        String x = ctx.I(0);
        String g = ctx.GO(0);
        long[] attrAxes = Attrs.getInts(n, "axes");
        String axes = ctx.hasInput(1) ? ctx.I(1)
                : attrAxes != null && attrAxes.length > 0 ? ctx.builder().ints(attrAxes) : null;
        if (Attrs.getInt(n, "keepdims", 1) == 0 && axes != null) {
            g = e.op("Unsqueeze", g, axes);
        }
        String dx = e.op("Expand", g, e.shape(x));
        if (mean) {
            String ratio = e.op("Div", e.castLike(e.op("Size", ctx.O(0)), x), e.castLike(e.op("Size", x), x));
            dx = e.op("Mul", dx, ratio);
        }
        String[] r = ctx.results();
        r[0] = dx;
        return r;
    }
}
