package org.onnxlora.autodiff.rules;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.shape.Dim;

/** {@code Y = Concat(X₀…Xₙ, axis)}: {@code Split(g)} along the axis at the inputs' sizes (constant when known). */
public final class Concat implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        GraphBuilder b = ctx.builder();
        long axis = Attrs.getInt(ctx.node(), "axis", 0);
        String split = constantSizes(e, ctx, axis);
        if (split == null) {
            List<String> sizes = new ArrayList<>();
            for (int i = 0; i < ctx.inputCount(); i++) {
                sizes.add(e.op("Gather", e.shape(ctx.I(i)), b.ints(axis)));
            }
            split = e.op("Concat", sizes, Attrs.i("axis", 0));
        }
        String[] parts = b.opN("", "Split", ctx.inputCount(), List.of(ctx.GO(0), split), Attrs.i("axis", axis));
        String[] r = ctx.results();
        for (int i = 0; i < r.length; i++) {
            if (ctx.isGradientRequired(i)) {
                r[i] = parts[i];
            }
        }
        return r;
    }

    /** The inputs' sizes along the axis as one constant, when all are known. */
    private static String constantSizes(GradEmitter e, GradContext ctx, long axis) {
        long[] sizes = new long[ctx.inputCount()];
        for (int i = 0; i < sizes.length; i++) {
            List<Dim> s = e.shapes().shape(ctx.I(i));
            int a = s == null ? -1 : (int) (axis < 0 ? axis + s.size() : axis);
            if (a < 0 || a >= s.size() || !s.get(a).isConstant()) {
                return null;
            }
            sizes[i] = s.get(a).constant();
        }
        return ctx.builder().ints(sizes);
    }
}
