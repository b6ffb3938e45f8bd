package org.onnxlora.data;

import java.util.Arrays;
import java.util.TreeSet;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * The lengths one axis of a batch may be padded to: a batch whose longest row has {@code n}
 * tokens is padded to the smallest rung at least {@code n}. Few rungs mean few distinct batch
 * shapes (each shape can cost ONNX Runtime a new memory plan, or a session of its own), at
 * the price of some padding; the top rung is always the axis's maximum length, so nothing
 * is padded past what the model was configured for.
 */
public final class LengthLadder {
    private final int[] rungs;

    private LengthLadder(int[] rungs) {
        this.rungs = rungs;
    }

    /** Every length is a rung: batches are padded to their longest row only. */
    public static LengthLadder exact(int max) {
        checkMax(max);
        int[] r = new int[max];
        for (int i = 0; i < max; i++) {
            r[i] = i + 1;
        }
        return new LengthLadder(r);
    }

    /**
     * {@code perOctave} evenly spaced rungs in every octave from {@code min} up, then {@code max}:
     * with 2 per octave and min 16, the rungs are 16, 24, 32, 48, 64, 96, 128, ... so a batch is
     * padded by at most half of the octave's step (under 50%, and under {@code 1/perOctave} of
     * its length above {@code min}).
     */
    public static LengthLadder geometric(int min, int perOctave, int max) {
        checkMax(max);
        if (min < 1 || Integer.bitCount(min) != 1) {
            throw bad("smallest padded length must be a power of two, got " + min);
        }
        if (perOctave < 1 || Integer.bitCount(perOctave) != 1 || perOctave > min) {
            throw bad("rungs per octave must be a power of two between 1 and " + min + ", got " + perOctave);
        }
        TreeSet<Integer> r = new TreeSet<>();
        for (long octave = min; octave < max; octave *= 2) {
            long step = octave / perOctave;
            for (long v = octave; v < 2 * octave && v < max; v += step) {
                r.add((int) v);
            }
        }
        r.add(max);
        return new LengthLadder(r.stream().mapToInt(Integer::intValue).toArray());
    }

    /** Multiples of {@code step} up to {@code max}, and {@code max}. */
    public static LengthLadder multiplesOf(int step, int max) {
        checkMax(max);
        if (step < 1) {
            throw bad("padding step must be at least 1, got " + step);
        }
        TreeSet<Integer> r = new TreeSet<>();
        for (long v = step; v < max; v += step) {
            r.add((int) v);
        }
        r.add(max);
        return new LengthLadder(r.stream().mapToInt(Integer::intValue).toArray());
    }

    /** The padded length for a longest row of {@code length} tokens. */
    public int padTo(int length) {
        if (length < 1 || length > max()) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "length " + length + " is outside 1.." + max());
        }
        int at = Arrays.binarySearch(rungs, length);
        return rungs[at >= 0 ? at : -at - 1];
    }

    public int max() {
        return rungs[rungs.length - 1];
    }

    /** The rungs, ascending. */
    public int[] rungs() {
        return rungs.clone();
    }

    /** The rungs from the smallest up to the one {@code length} pads to. */
    public int[] rungsUpTo(int length) {
        int top = padTo(length);
        return Arrays.stream(rungs).filter(r -> r <= top).toArray();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LengthLadder l && Arrays.equals(rungs, l.rungs);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(rungs);
    }

    @Override
    public String toString() {
        return rungs[rungs.length - 1] == rungs.length ? "exact(" + max() + ")" : Arrays.toString(rungs);
    }

    private static void checkMax(int max) {
        if (max < 1) {
            throw bad("maximum length must be at least 1, got " + max);
        }
    }

    private static OnnxLoraException bad(String message) {
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, message);
    }
}
