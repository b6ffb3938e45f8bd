package org.onnxlora.spark;

import java.io.Serializable;
import java.util.List;

/**
 * What rank 0 reports back to the driver.
 *
 * @param resumedFrom the checkpoint step the last attempt started from (0 = fresh)
 * @param attempt the stage attempt that finished (0 = no failure)
 * @param meanLosses the global mean token loss of each step that attempt ran
 */
public record TrainOutcome(long resumedFrom, int attempt, List<Double> meanLosses) implements Serializable {
    private static final long serialVersionUID = 1L;
}
