package org.onnxlora.cli;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Range checks for flags that only the CLI has (the library's configuration records check their
 * own fields). Each failure is one line naming the flag and the value given.
 */
final class Flags {
    private Flags() {}

    static void atLeast(String flag, long value, long min) {
        if (value < min) {
            throw bad(flag + " must be at least " + min + ", got " + value);
        }
    }

    /** A finite number of at least {@code min}; NaN and infinities are refused. */
    static void finiteAtLeast(String flag, double value, double min) {
        if (!(value >= min) || Double.isInfinite(value)) {
            throw bad(flag + " must be a finite number >= " + num(min) + ", got " + value);
        }
    }

    /** A finite number greater than {@code bound}. */
    static void finiteAbove(String flag, double value, double bound) {
        if (!(value > bound) || Double.isInfinite(value)) {
            throw bad(flag + " must be a finite number > " + num(bound) + ", got " + value);
        }
    }

    /** A bare file name (no folder part), so an output stays inside the folder it is meant for. */
    static void fileName(String flag, String value) {
        if (value.isBlank() || value.equals(".") || value.equals("..") || value.contains("/") || value.contains("\\")
                || value.indexOf('\0') >= 0) {
            throw bad(flag + " must be a plain file name without folders, got '" + value + "'");
        }
    }

    private static String num(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%s", v);
    }

    private static OnnxLoraException bad(String message) {
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, message);
    }
}
