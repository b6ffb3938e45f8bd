package org.onnxlora.autodiff.rules;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.autodiff.GradContext;
import org.onnxlora.autodiff.GradEmitter;
import org.onnxlora.autodiff.GradientRule;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * {@code Y = Slice(X, starts, ends, axes, steps)}: scatter {@code g} into zeros
 * shaped like X. Which positions Y came from is found by slicing a tensor of
 * flat positions with the node's own (possibly dynamic) starts/ends/axes/steps, so
 * every form Slice accepts (negative, clamped, strided, reversed) is covered by
 * Slice's own semantics. Positions are unique, so no accumulation is needed.
 */
public final class Slice implements GradientRule {
    @Override
    public boolean isDifferentiableInput(NodeProto node, int i) {
        return i == 0;
    }

    @Override
    public String[] build(GradContext ctx) {
        GradEmitter e = ctx.emit();
        GraphBuilder b = ctx.builder();
        String x = ctx.I(0);
        long[] dims = e.shapes().constantDims(x);
        long elements = 1;
        for (long d : dims == null ? new long[0] : dims) {
            elements *= d;
        }
        String count = dims != null ? b.int0(elements) : e.op("Size", x);
        String positions = e.reshape(e.op("Range", b.int0(0), count, b.int0(1)), e.shapeTensor(x));
        List<String> sliceInputs = new ArrayList<>(ctx.node().getInputList());
        sliceInputs.set(0, positions);
        String taken = e.reshape(e.op("Slice", sliceInputs), b.ints(-1));
        String flatZeros = e.reshape(e.zerosLike(x), b.ints(-1));
        String flat = e.op("ScatterElements", List.of(flatZeros, taken, e.reshape(ctx.GO(0), b.ints(-1))),
                Attrs.i("axis", 0));
        String[] r = ctx.results();
        r[0] = e.reshapeLike(flat, x);
        return r;
    }
}
