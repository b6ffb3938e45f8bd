package org.onnxlora.api;

/**
 * Asks a training run to stop: checked after every optimizer step; when it says yes, the step
 * that just ended is checkpointed and the run returns an interrupted result. It is opened just
 * before the first step and closed when training ends, so a handler it installs (the CLI's
 * Ctrl-C) is active only while steps run.
 */
public interface StopRequest extends AutoCloseable {
    boolean requested();

    @Override
    default void close() {}

    /** Never asks to stop. */
    static StopRequest never() {
        return () -> false;
    }
}
