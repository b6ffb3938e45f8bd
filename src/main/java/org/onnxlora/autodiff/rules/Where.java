package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.proto.Onnx.NodeProto;

/** {@code Y = Where(c, A, B)}: {@code dA = unbroadcast(Where(c, g, 0))}, {@code dB = unbroadcast(Where(c, 0, g))}. */
public final class Where implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i > 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        String c = ctx.I(0);
        String g = ctx.GO(0);
        String zero = e.scalar(0, ctx.O(0));
        String[] r = ctx.results();
        if (ctx.isGradientRequired(1)) {
            r[1] = e.unbroadcast(e.op("Where", c, g, zero), ctx.I(1), ctx.O(0));
        }
        if (ctx.isGradientRequired(2)) {
            r[2] = e.unbroadcast(e.op("Where", c, zero, g), ctx.I(2), ctx.O(0));
        }
        return r;
    }
}
