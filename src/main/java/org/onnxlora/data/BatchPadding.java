package org.onnxlora.data;

/**
 * How far training batches are padded along their source and target axes (see
 * {@link LengthLadder}). The batch axis is left alone: every batch of an epoch is full but the
 * one short batch, so it already comes in at most two sizes.
 */
public record BatchPadding(LengthLadder source, LengthLadder target) {
    /** Smallest rung of the default ladders; shorter batches are rare and cheap either way. */
    public static final int DEFAULT_MIN = 16;
    /**
     * Rungs per octave of the default ladders (16, 20, 24, 28, 32, 40, 48, ...). Measured on the
     * man-page pairs at batch 32 (docs/benchmarks.md, "Data side"): padding efficiency 0.74
     * against 0.79 for exact padding, with 50 distinct shapes an epoch instead of 86 (84 instead
     * of 638 on 50k rows, since the number of rungs does not grow with the data); two per octave
     * gives 0.68 with 35.
     */
    public static final int DEFAULT_PER_OCTAVE = 4;

    /** The default ladders up to the configured maximum lengths. */
    public static BatchPadding defaults(DataConfig config) {
        return new BatchPadding(LengthLadder.geometric(DEFAULT_MIN, DEFAULT_PER_OCTAVE, config.maxSourceLength()),
                LengthLadder.geometric(DEFAULT_MIN, DEFAULT_PER_OCTAVE, config.maxTargetLength()));
    }

    /** Batches padded to their longest rows only (what Hugging Face's collator does). */
    public static BatchPadding exact(DataConfig config) {
        return new BatchPadding(LengthLadder.exact(config.maxSourceLength()), LengthLadder.exact(config.maxTargetLength()));
    }
}
