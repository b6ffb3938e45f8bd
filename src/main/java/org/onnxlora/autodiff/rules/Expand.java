package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.proto.Onnx.NodeProto;

/** {@code Y = Expand(X, shape)}: {@code dX = unbroadcast(g)}. */
public final class Expand implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().unbroadcast(ctx.GO(0), ctx.I(0), ctx.O(0));
        return r;
    }
}
