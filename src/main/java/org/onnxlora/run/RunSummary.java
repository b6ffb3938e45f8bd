package org.onnxlora.run;

/**
 * What a training run achieved, as {@code RUN/summary.json} records it ({@link RunDirectory#writeSummary}).
 * {@code steps} is the step reached; {@code interrupted} says the run stopped on request before
 * its last step. {@code adapters} and {@code checkpoint} are paths (null before the first checkpoint);
 * {@code validLoss} and {@code initialValidLoss} are null without validation data.
 */
public record RunSummary(long steps, double trainLoss, Double validLoss, double tokensPerSecond, double seconds,
        String adapters, String checkpoint, Double initialValidLoss, boolean interrupted, Double lossScale,
        Long skippedSteps) {
    /** A run without loss scaling (every precision but fp16). */
    public RunSummary(long steps, double trainLoss, Double validLoss, double tokensPerSecond, double seconds,
            String adapters, String checkpoint, Double initialValidLoss, boolean interrupted) {
        this(steps, trainLoss, validLoss, tokensPerSecond, seconds, adapters, checkpoint, initialValidLoss,
                interrupted, null, null);
    }
}
