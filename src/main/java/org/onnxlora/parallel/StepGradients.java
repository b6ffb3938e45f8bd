package org.onnxlora.parallel;

/**
 * One worker's share of a step: adapter gradients of its summed (not averaged) token loss, flat in
 * the adapters' fixed order, its token count and its loss sum. Sums of these over workers are the
 * global batch's, exactly, because the loss is a sum over tokens.
 */
public record StepGradients(float[] gradients, double tokens, double lossSum) {}
