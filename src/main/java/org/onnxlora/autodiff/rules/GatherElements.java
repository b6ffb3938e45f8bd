package org.onnxlora.autodiff.rules;

import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.proto.Onnx.NodeProto;

/** {@code Y = GatherElements(X, idx, axis)}: {@code dX = ScatterElements(zeros, idx, g, axis, reduction=add)} (opset 16). */
public final class GatherElements implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.builder().op("ScatterElements", List.of(ctx.emit().zerosLike(ctx.I(0)), ctx.I(1), ctx.GO(0)),
                Attrs.i("axis", Attrs.getInt(ctx.node(), "axis", 0)), Attrs.s("reduction", "add"));
        return r;
    }
}
