package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Dropout (opset 12+). Without {@code training_mode} it is the identity. In
 * training mode {@code Y = X·mask/(1−p)}, so {@code dX = g·mask·s} with the
 * forward's own mask output and {@code s = training_mode ? 1/(1−p) : 1}, chosen at
 * run time because training_mode may be a graph input.
 */
public final class Dropout implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public boolean isDifferentiableOutput(NodeProto node, int k) {
        return k == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        if (!ctx.hasInput(2)) {
            r[0] = ctx.GO(0);
            return r;
        }
        if (!ctx.hasOutput(1)) {
            throw ctx.unsupported("in training mode the backward needs the mask output; add it to the node");
        }
        GradEmitter e = ctx.emit();
        String x = ctx.I(0);
        String ratio = ctx.hasInput(1) ? e.castLike(ctx.I(1), x) : e.scalar(0.5, x);
        String one = e.scalar(1, x);
        String scale = e.op("Where", ctx.I(2), e.op("Div", one, e.op("Sub", one, ratio)), one);
        r[0] = e.op("Mul", e.op("Mul", ctx.GO(0), e.castLike(ctx.O(1), x)), scale);
        return r;
    }
}
