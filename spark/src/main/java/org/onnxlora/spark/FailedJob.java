package org.onnxlora.spark;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Turns a failed Spark job back into the worker's own error: Spark wraps a task's exception in a
 * multi-line job failure (stage, task, executor, stack trace); users need the one line that says
 * what went wrong. Only crashes get here (lost peers, IO errors, after Spark's retries): bad input is
 * a task's result, not a failure.
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
            // bad input comes back as a task's result (SparkTrainer): what fails the stage for good
            // is what Spark's retries did not cure, a peer lost on every attempt or a lasting IO error
            return new OnnxLoraException(ErrorCode.COLLECTIVE, line, e);
        }
        String first = m.lines().findFirst().orElse(m).strip();
        return new OnnxLoraException(ErrorCode.COLLECTIVE, "the Spark job failed: " + first, e);
    }
}
