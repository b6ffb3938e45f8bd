package org.onnxlora.train;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.run.LossScaleState;

/**
 * Dynamic loss scaling for float16 training, as {@code torch.amp.GradScaler} does it: the
 * gradient seed is multiplied by the scale so small gradients survive float16's narrow range,
 * the optimizer divides it out again; a step whose gradients overflowed (a non-finite norm) is
 * skipped and the scale halved, and after {@code growthInterval} good steps in a row it doubles.
 * The state is part of a checkpoint ({@link LossScaleState#FILE}), so a resumed run scales as an uninterrupted one.
 */
public final class LossScaler {

    /** PyTorch's GradScaler defaults. */
    public record Config(double initialScale, double growthFactor, double backoffFactor, int growthInterval) {
        public static final Config DEFAULT = new Config(65536, 2, 0.5, 2000);

        public Config {
            if (!(initialScale > 0) || !(growthFactor > 1) || !(backoffFactor > 0 && backoffFactor < 1)
                    || growthInterval < 1) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "loss scaling needs a scale > 0, growth > 1,"
                        + " backoff in (0, 1) and an interval >= 1; got " + initialScale + ", " + growthFactor + ", "
                        + backoffFactor + ", " + growthInterval);
            }
        }
    }

    private final Config config;
    private LossScaleState state;
    private boolean lastSkipped;

    public LossScaler(Config config) {
        this.config = config;
        this.state = new LossScaleState(config.initialScale(), 0, 0);
    }

    public double scale() {
        return state.scale();
    }

    public LossScaleState state() {
        return state;
    }

    public void restore(LossScaleState s) {
        this.state = s;
    }

    /** Whether the last {@link #update} skipped its step. */
    public boolean lastSkipped() {
        return lastSkipped;
    }

    /**
     * Records one optimizer step whose (unscaled) gradient norm was {@code gradNorm}; returns
     * whether the step is to be kept (its gradients were finite).
     */
    public boolean update(double gradNorm) {
        lastSkipped = !Double.isFinite(gradNorm);
        if (lastSkipped) {
            state = new LossScaleState(state.scale() * config.backoffFactor(), 0, state.skippedSteps() + 1);
        } else if (state.goodSteps() + 1 >= config.growthInterval()) {
            state = new LossScaleState(state.scale() * config.growthFactor(), 0, state.skippedSteps());
        } else {
            state = new LossScaleState(state.scale(), state.goodSteps() + 1, state.skippedSteps());
        }
        return !lastSkipped;
    }
}
