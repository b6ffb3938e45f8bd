package org.onnxlora.spark;

import java.io.Serializable;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * What one barrier task hands back: rank 0's outcome, or the verdict that stopped the run (bad
 * input, the same on every rank). A verdict is a result, not a task failure: Spark would restart
 * the stage for a failure, and the same input fails the same way on every attempt.
 */
record TaskResult(int rank, TrainOutcome outcome, ErrorCode code, String message) implements Serializable {
    private static final long serialVersionUID = 1L;

    static TaskResult trained(int rank, TrainOutcome outcome) {
        return new TaskResult(rank, outcome, null, null);
    }

    static TaskResult stopped(int rank, OnnxLoraException e) {
        return new TaskResult(rank, null, e.code(), e.getMessage());
    }

    boolean failed() {
        return code != null;
    }
}
