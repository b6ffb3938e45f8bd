package org.onnxlora.autodiff.rules;

import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * {@code Y = Gather(X, idx, axis)} with respect to X: {@code ScatterElements(zeros,
 * idx, g, reduction=add)} (repeated indices accumulate). {@code g} is viewed as
 * {@code X.shape[:axis] + [-1] + X.shape[axis+1:]}, so it has X's rank, and the
 * indices are broadcast along the other axes. ScatterElements' {@code reduction}
 * needs opset 16; it is dense in X's shape, which is fine off the embedding path.
 */
public final class Gather implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        GraphBuilder b = ctx.builder();
        String x = ctx.I(0);
        long axis = Attrs.getInt(ctx.node(), "axis", 0);
        String sx = e.shape(x);
        String before = e.op("Slice", sx, b.ints(0), b.ints(axis));
        String after = axis == -1 ? b.ints() : e.op("Slice", sx, b.ints(axis + 1), b.ints(Long.MAX_VALUE));
        String minus1 = b.ints(-1);
        String gView = e.reshape(ctx.GO(0), e.op("Concat", List.of(before, minus1, after), Attrs.i("axis", 0)));
        String idxShape = e.op("Concat", List.of(ones(e, b, before), minus1, ones(e, b, after)), Attrs.i("axis", 0));
        String idx = e.op("Expand", e.reshape(ctx.I(1), idxShape), e.op("Shape", gView));
        String[] r = ctx.results();
        r[0] = b.op("ScatterElements", List.of(e.zerosLike(x), idx, gView), Attrs.i("axis", axis),
                Attrs.s("reduction", "add"));
        return r;
    }

    private static String ones(GradEmitter e, GraphBuilder b, String dims) {
        return e.op("Add", e.op("Mul", dims, b.int0(0)), b.int0(1));
    }
}
