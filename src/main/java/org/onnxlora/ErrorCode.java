package org.onnxlora;

/**
 * What went wrong, coarsely enough for a script to act on it. The CLI maps each
 * code to an exit status; library callers switch on it.
 */
public enum ErrorCode {
    /** A flag or argument is out of range or contradicts another one. */
    BAD_ARGUMENT(2),
    /**
     * An input file is missing or unreadable, or writing failed: what a file system that recovers
     * (a remount, freed space) may let pass, so a scheduler may retry it.
     */
    IO(3),
    /**
     * An output is in the way: it exists and is not replaced (without being told to, or never: a
     * folder of the user's that holds no run, a file where a folder goes). The same exit status as
     * {@link #IO}, which it was part of; unlike it, the same command meets it again on every try.
     */
    OUTPUT_EXISTS(3),
    /** The file is not a usable ONNX model (not protobuf, truncated, no graph). */
    INVALID_MODEL(4),
    /** The model is valid ONNX but not something onnx-lora can work on (no projections, no logits...). */
    UNSUPPORTED_MODEL(5),
    /** The target patterns select nothing, or adapters do not fit the model. */
    TARGET_MISMATCH(6),
    /** The training compiler met an op it has no gradient rule for, or a graph it cannot differentiate. */
    COMPILE(7),
    /** ONNX Runtime refused or failed to run a graph. */
    RUNTIME(8),
    /** Two models disagree beyond the tolerance (verify). */
    VERIFY_FAILED(9),
    /** Training diverged (NaN or Inf loss). */
    DIVERGED(10),
    /** Bad rows in a data file. */
    BAD_DATA(11),
    /** A data-parallel peer vanished, stopped answering, or broke the all-reduce protocol (retrying may help). */
    COLLECTIVE(12),
    /** A bug in onnx-lora: an invariant broke. */
    INTERNAL(70);

    private final int exitCode;

    ErrorCode(int exitCode) {
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }
}
