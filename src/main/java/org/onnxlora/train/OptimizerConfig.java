package org.onnxlora.train;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * AdamW with PyTorch's semantics (decoupled weight decay, bias correction) and
 * global-norm gradient clipping. The learning rate is fed per step (schedules).
 */
public record OptimizerConfig(double beta1, double beta2, double eps, double weightDecay, double maxGradNorm) {
    public static final OptimizerConfig DEFAULT = new OptimizerConfig(0.9, 0.999, 1e-8, 0.0, 1.0);

    public OptimizerConfig {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.ADAM_BETAS, "Adam's betas must be in [0, 1), got " + beta1 + ","
                    + beta2);
        }
        if (!(eps > 0) || Double.isInfinite(eps)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.ADAM_EPS, "Adam's epsilon must be a finite positive number, got " + eps);
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.WEIGHT_DECAY, "the weight decay must be a finite number >= 0, got "
                    + weightDecay);
        }
        if (!(maxGradNorm >= 0) || Double.isInfinite(maxGradNorm)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.MAX_GRAD_NORM, "the gradient-norm limit must be a finite number >= 0"
                    + " (0 disables clipping), got " + maxGradNorm);
        }
    }
}
