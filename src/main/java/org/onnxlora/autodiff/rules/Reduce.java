package org.onnxlora.autodiff.rules;

import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.shape.Dim;
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
        String dx = e.expandLike(g, x);
        if (mean) {
            dx = e.op("Mul", dx, ratio(e, ctx.O(0), x));
        }
        String[] r = ctx.results();
        r[0] = dx;
        return r;
    }

    /** |Y|/|X| as a scalar of X's type: a constant when the reduced dims are known. */
    private static String ratio(GradEmitter e, String y, String x) {
        List<Dim> ys = e.shapes().shape(y);
        List<Dim> xs = e.shapes().shape(x);
        if (ys != null && xs != null) {
            Dim py = Dim.of(1);
            Dim px = Dim.of(1);
            for (Dim d : ys) {
                py = py.times(d);
            }
            for (Dim d : xs) {
                px = px.times(d);
            }
            java.util.Optional<Dim> averaged = px.exactlyDividedBy(py);
            if (averaged.isPresent() && averaged.get().isConstant() && averaged.get().constant() > 0) {
                return e.scalar(1.0 / averaged.get().constant(), x);
            }
        }
        return e.op("Div", e.castLike(e.op("Size", y), x), e.castLike(e.op("Size", x), x));
    }
}
