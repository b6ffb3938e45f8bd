package org.onnxlora.parallel;

/**
 * What {@link DataParallelLoop} needs from one rank's trainer. Every rank holds the same adapters
 * and optimizer state after every step because every rank applies the same summed gradients; only
 * rank 0 persists them.
 *
 * <p>Steps are numbered from 1; a worker chooses its data from the step number and its rank alone
 * (its shard, in a fixed order), so a resumed run sees the same batches as an uninterrupted one.
 */
public interface DataParallelWorker extends AutoCloseable {

    /** What must be equal on every rank: the content hash of the model and of the training settings. */
    String fingerprint();

    /** The last step whose state is on disk (0 = none); asked of rank 0 only. */
    long latestCheckpoint();

    /** Loads the state saved after {@code step} (0 = start fresh), the one all ranks agreed on. */
    void restore(long step);

    /** Forward and backward over this rank's share of the global batch of {@code step}. */
    StepGradients computeGradients(long step);

    /**
     * One optimizer step from the gradients summed over all ranks and the global token count
     * (the step's mean loss gradient is {@code gradients / tokens}).
     */
    void applySummed(long step, float[] gradients, double tokens);

    /**
     * Rank 0 only, after {@link #applySummed} and before {@link #checkpoint}: the step's figures over
     * all ranks (a run's metrics; the global mean loss is the one a checkpoint records).
     */
    void logStep(StepRecord record);

    /** Rank 0 only: saves the state after {@code step} atomically (a failed stage resumes from it). */
    void checkpoint(long step);

    /** Rank 0 only: the run has reached its last step, {@code steps} (what a finished run records: its summary). */
    void finish(long steps);

    @Override
    void close();
}
