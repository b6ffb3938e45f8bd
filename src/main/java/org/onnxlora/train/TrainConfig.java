package org.onnxlora.train;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * The training loop's settings.
 *
 * @param totalSteps optimizer steps to reach
 * @param gradAccum micro-batches per optimizer step
 * @param schedule learning rate per step
 * @param evalEvery validation every N steps (0 = only at the end)
 * @param saveEvery checkpoint every N steps (0 = only at the end)
 * @param keepCheckpoints how many checkpoints to keep (0 = all)
 * @param seed data order and initialisation seed
 */
public record TrainConfig(long totalSteps, int gradAccum, LrSchedule schedule, long evalEvery, long saveEvery,
        int keepCheckpoints, long seed) {
    public TrainConfig {
        // --grad-accum first: with --epochs a bad value also makes the step count meaningless
        if (gradAccum <= 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.GRAD_ACCUM, "gradient accumulation must be >= 1, got " + gradAccum);
        }
        if (totalSteps <= 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.STEPS, "the run needs at least one step,"
                    + " got " + totalSteps);
        }
        if (evalEvery < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.EVAL_EVERY, "the evaluation interval must be >= 0 (0 = at the end only), got "
                    + evalEvery);
        }
        if (saveEvery < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.SAVE_EVERY, "the checkpoint interval must be >= 0 (0 = at the end only), got "
                    + saveEvery);
        }
        if (keepCheckpoints < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.KEEP_CHECKPOINTS, "the number of checkpoints kept must be >= 0 (0 = keep all), got "
                    + keepCheckpoints);
        }
    }
}
