package org.onnxlora.train;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;

/**
 * The gradient summed over the micro-batches (or workers) of one optimizer step, and the tokens it
 * was summed over. The first pass writes straight into the sum; later passes write into a scratch
 * buffer that is then added, so one pass costs no addition.
 */
final class GradientAccumulator implements AutoCloseable {
    private final FlatAdapterBuffer sum;
    private final FlatAdapterBuffer scratch;
    private int passes;
    private double tokens;

    GradientAccumulator(OrtEnvironment env, AdapterLayout layout) throws OrtException {
        sum = new FlatAdapterBuffer(env, layout);
        try {
            scratch = new FlatAdapterBuffer(env, layout);
        } catch (OrtException | RuntimeException e) {
            sum.close();
            throw e;
        }
    }

    /** Where the next pass writes its gradients. */
    FlatAdapterBuffer target() {
        return passes == 0 ? sum : scratch;
    }

    boolean isEmpty() {
        return passes == 0;
    }

    /** A pass wrote {@link #target()}, summed over {@code passTokens} tokens. */
    void added(double passTokens) {
        if (passes > 0) {
            sum.add(scratch);
        }
        passes++;
        tokens += passTokens;
    }

    /** Replaces the sum (e.g. with several sessions' sums). */
    void set(float[] gradients, double total) {
        sum.writeAll(gradients);
        passes = Math.max(passes, 1);
        tokens = total;
    }

    void clear() {
        passes = 0;
        tokens = 0;
    }

    FlatAdapterBuffer sum() {
        return sum;
    }

    double tokens() {
        return tokens;
    }

    @Override
    public void close() {
        sum.close();
        scratch.close();
    }
}
