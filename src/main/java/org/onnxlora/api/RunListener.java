package org.onnxlora.api;

import org.onnxlora.Progress;

/**
 * What a library call tells its caller while it works: notes for people (one line each, no
 * trailing newline), optional details, and progress of the long phases. Every method has a
 * silent default, so a program passes {@link #SILENT} or overrides what it wants to show.
 */
public interface RunListener {
    RunListener SILENT = new RunListener() {};

    /** Something the user should see: what was patched, where a run resumes, how much data was read. */
    default void info(String line) {}

    /** Something shown only when asked for detail (e.g. token cache hits). */
    default void detail(String line) {}

    /** Progress of data loading and training steps. */
    default Progress progress() {
        return Progress.NONE;
    }
}
