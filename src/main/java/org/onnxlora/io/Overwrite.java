package org.onnxlora.io;

/** Whether writing an output may replace what is already there ({@link OutputGuard}). */
public enum Overwrite {
    /** An existing output (other than an empty folder) is an error. */
    REFUSE,
    /** An existing output of the right kind is replaced. */
    REPLACE;

    /** {@code REPLACE} when {@code force}: for callers holding a flag. */
    public static Overwrite of(boolean force) {
        return force ? REPLACE : REFUSE;
    }

    public boolean allowed() {
        return this == REPLACE;
    }
}
