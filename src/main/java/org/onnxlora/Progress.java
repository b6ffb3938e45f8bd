package org.onnxlora;

/**
 * Progress of long work, reported by the library and drawn by whoever listens
 * (the CLI draws a bar only when a console is attached). Implementations must be cheap.
 */
public interface Progress {
    Progress NONE = new Progress() {
        @Override
        public void start(String task, long total) {}

        @Override
        public void advance(long done, String status) {}

        @Override
        public void finish() {}
    };

    /** A new task of {@code total} units (0 if unknown). */
    void start(String task, long total);

    /** {@code done} units finished so far; {@code status} is a short free-form suffix (may be empty). */
    void advance(long done, String status);

    void finish();
}
