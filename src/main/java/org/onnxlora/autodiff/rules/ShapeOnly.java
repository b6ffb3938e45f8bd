package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Ops that only re-view their first input's elements in the same order
 * (Reshape, Flatten, Squeeze, Unsqueeze): the gradient is {@code g} reshaped to the
 * input's runtime shape. Their other inputs (shape, axes) carry no gradient.
 */
public final class ShapeOnly implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().reshapeLike(ctx.GO(0), ctx.I(0));
        return r;
    }
}
