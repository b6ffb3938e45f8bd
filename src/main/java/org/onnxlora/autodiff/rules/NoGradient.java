package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Ops whose outputs carry no gradient (shapes, comparisons, indices, rounding):
 * registering them cuts the path, so a computation that only reads shapes or
 * builds masks from a trainable value is never differentiated.
 */
public final class NoGradient implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return false;
    }

    @Override
    public String[] build(GradContext ctx) {
        return ctx.results();
    }
}
