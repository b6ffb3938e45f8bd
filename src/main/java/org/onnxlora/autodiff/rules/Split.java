package org.onnxlora.autodiff.rules;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.proto.Onnx.NodeProto;

/** {@code Y₀…Yₙ = Split(X, axis)}: {@code dX = Concat(g₀…gₙ)}, zeros standing in for outputs no gradient reaches. */
public final class Split implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        List<String> parts = new ArrayList<>();
        for (int k = 0; k < ctx.outputCount(); k++) {
            parts.add(ctx.GO(k) != null ? ctx.GO(k) : e.zerosLike(ctx.O(k)));
        }
        String[] r = ctx.results();
        r[0] = e.op("Concat", parts, Attrs.i("axis", Attrs.getInt(ctx.node(), "axis", 0)));
        return r;
    }
}
