package org.onnxlora.autodiff;

import org.onnxlora.proto.Onnx.NodeProto;

/**
 * The backward of one op type, in the manner of ONNX Runtime's gradient builders
 * but emitting only ops that stock ORT builds run (never {@code *Grad} kernels).
 *
 * <p>{@link Backprop} calls {@link #build} once per forward node on the path to
 * the loss, with the gradients of the node's outputs ({@code GO(k)}, null where
 * no gradient flows) and the inputs whose gradient it needs
 * ({@code isGradientRequired(i)}). The rule emits nodes through
 * {@link GradContext#emit()} and may read any forward value, since the backward
 * lives in the same graph as the forward.
 */
public interface GradientRule {
    /**
     * Emits the backward of {@code ctx.node()}. Returns, indexed by input, the name
     * of each required input's gradient (same shape as the input); null for inputs
     * not required, or whose gradient is identically zero.
     */
    String[] build(GradContext ctx);

    /**
     * Whether a gradient can flow into input {@code i} at all: false for shapes,
     * axes, indices, masks and other integer or discrete operands. Backprop uses it
     * to cut paths, so values derived only from such inputs are never differentiated.
     */
    default boolean isDifferentiableInput(NodeProto node, int i) {
        return true;
    }

    /** Whether output {@code k} can carry a gradient (false for masks and indices). */
    default boolean isDifferentiableOutput(NodeProto node, int k) {
        return true;
    }
}
