package org.onnxlora.train;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * Learning rate as a pure function of the step (1-based), as Hugging Face's
 * schedulers define it: linear warm-up from 0, then constant, linear decay to 0,
 * or half a cosine to 0 at {@code totalSteps}. Pure, so a resumed run gets the
 * same rates.
 */
public record LrSchedule(Kind kind, double peak, long warmupSteps, long totalSteps) {
    public enum Kind { CONSTANT, LINEAR, COSINE }

    public LrSchedule {
        if (!(peak > 0) || Double.isInfinite(peak)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.LEARNING_RATE, "the learning rate must be a finite positive number, got " + peak);
        }
        if (warmupSteps < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.WARMUP, "the warmup must be >= 0, got " + warmupSteps);
        }
    }

    public static Kind parse(String s) {
        try {
            return Kind.valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.SCHEDULE, "the learning-rate schedule must be constant, linear or cosine, got '" + s + "'");
        }
    }

    public double at(long step) {
        if (warmupSteps > 0 && step <= warmupSteps) {
            return peak * step / warmupSteps;
        }
        if (kind == Kind.CONSTANT || totalSteps <= warmupSteps) {
            return peak;
        }
        double progress = Math.min(1.0, (double) (step - warmupSteps) / (totalSteps - warmupSteps));
        return switch (kind) {
            case LINEAR -> peak * (1 - progress);
            case COSINE -> peak * 0.5 * (1 + Math.cos(Math.PI * progress));
            case CONSTANT -> peak;
        };
    }
}
