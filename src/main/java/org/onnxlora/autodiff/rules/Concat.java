package org.onnxlora.autodiff.rules;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;

/** {@code Y = Concat(X₀…Xₙ, axis)}: {@code Split(g)} along the axis at the inputs' runtime sizes. */
public final class Concat implements GradientRule {
    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        GraphBuilder b = ctx.builder();
        long axis = Attrs.getInt(ctx.node(), "axis", 0);
        List<String> sizes = new ArrayList<>();
        for (int i = 0; i < ctx.inputCount(); i++) {
            sizes.add(e.op("Gather", e.shape(ctx.I(i)), b.ints(axis)));
        }
        String split = e.op("Concat", sizes, Attrs.i("axis", 0));
        String[] parts = b.opN("", "Split", ctx.inputCount(), List.of(ctx.GO(0), split), Attrs.i("axis", axis));
        String[] r = ctx.results();
        for (int i = 0; i < r.length; i++) {
            if (ctx.isGradientRequired(i)) {
                r[i] = parts[i];
            }
        }
        return r;
    }
}
