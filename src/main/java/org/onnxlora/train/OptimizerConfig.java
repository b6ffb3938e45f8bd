package org.onnxlora.train;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * AdamW with PyTorch's semantics (decoupled weight decay, bias correction) and
 * global-norm gradient clipping. The learning rate is fed per step (schedules).
 */
public record OptimizerConfig(double beta1, double beta2, double eps, double weightDecay, double maxGradNorm) {
    public static final OptimizerConfig DEFAULT = new OptimizerConfig(0.9, 0.999, 1e-8, 0.0, 1.0);

    public OptimizerConfig {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "Adam betas must be in [0, 1)");
        }
        if (!(eps > 0)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "Adam eps must be positive");
        }
        if (weightDecay < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--weight-decay must be >= 0");
        }
    }
}
