package org.onnxlora.autodiff.rules;

import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * {@code Y = Cast(X, to)}: between float types the gradient is cast back to X's
 * type; a cast to an integer or bool type ends the path.
 */
public final class Cast implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return Tensors.isFloatType((int) Attrs.getInt(node, "to", 0));
    }

    @Override
    public String[] build(GradContext ctx) {
        String[] r = ctx.results();
        r[0] = ctx.emit().castLike(ctx.GO(0), ctx.I(0));
        return r;
    }
}
