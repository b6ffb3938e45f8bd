package org.onnxlora.autodiff;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/** Which forward values the backward computes again instead of keeping them from the forward. */
public enum Recompute {
    /** The backward reads what the forward computed. */
    NONE,
    /**
     * The attention probabilities (each attention {@code Softmax} and the casts/reshapes of it that the backward
     * reads) are recomputed from the score product's inputs, so the forward's die after the probabilities·V
     * product ({@link AttentionRecompute}).
     */
    ATTENTION;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Recompute parse(String s) {
        for (Recompute r : values()) {
            if (r.label().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) {
                return r;
            }
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RECOMPUTE, "the recomputed values are none or"
                + " attention, not '" + s + "'");
    }
}
