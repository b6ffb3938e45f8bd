/**
 * Reverse-mode differentiation of ONNX graphs into ops that stock ONNX Runtime runs.
 *
 * <p>{@link org.onnxlora.autodiff.Backprop} walks the path from trainable values
 * to the seeds in reverse topological order and asks the
 * {@link org.onnxlora.autodiff.GradientRegistry} for each node's
 * {@link org.onnxlora.autodiff.GradientRule}; rules build their backward from
 * {@link org.onnxlora.autodiff.GradEmitter}'s shared pieces.
 *
 * <p>Contract: the forward graph uses opset 13 or later (the emitted ReduceSum,
 * Squeeze, Unsqueeze and Split take axes/sizes as inputs); the Gather and
 * GatherElements rules emit ScatterElements with {@code reduction=add}, which
 * needs opset 16. Operands of undeclared rank reaching MatMul are assumed to be at
 * least 2-D. Softmax/LogSoftmax follow opset-13 single-axis semantics.
 */
package org.onnxlora.autodiff;
