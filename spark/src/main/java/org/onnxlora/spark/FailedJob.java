package org.onnxlora.spark;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Turns a failed Spark job back into the worker's own error: Spark wraps a task's exception in a
 * multi-line job failure (stage, task, executor, stack trace); users need the one line that says
 * what went wrong.
 */
final class FailedJob {
    private static final String MARK = OnnxLoraException.class.getName() + ": ";

    private FailedJob() {}

    static OnnxLoraException explain(Exception e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof OnnxLoraException ole) {
                return ole;
            }
        }
        String m = String.valueOf(e.getMessage());
        int at = m.indexOf(MARK);
        if (at >= 0) {
            String line = m.substring(at + MARK.length()).lines().findFirst().orElse("").strip();
            // a model mismatch is the user's to fix, everything else from the ring is a lost peer
            ErrorCode code = line.startsWith("workers were given different models") ? ErrorCode.BAD_ARGUMENT
                    : ErrorCode.COLLECTIVE;
            return new OnnxLoraException(code, line, e);
        }
        String first = m.lines().findFirst().orElse(m).strip();
        return new OnnxLoraException(ErrorCode.COLLECTIVE, "the Spark job failed: " + first, e);
    }
}
