package org.onnxlora.parallel;

/**
 * One worker's share of a step: adapter gradients of its summed (not averaged) token loss, flat in
 * the adapters' fixed order, its loss token count, its loss sum, and the non-padding tokens of its
 * batches (source and target, what throughput counts). Sums of these over workers are the global
 * batch's, exactly, because the loss is a sum over tokens.
 */
public record StepGradients(float[] gradients, double tokens, double lossSum, double realTokens) {}
