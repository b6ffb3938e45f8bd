package org.onnxlora.spark;

import java.io.Serializable;
import java.time.Duration;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * A Spark data-parallel run.
 *
 * @param workers tasks of the barrier stage, one worker each (the cluster needs this many free task slots)
 * @param steps optimizer steps in all (a resumed run continues to this step)
 * @param checkpointEvery rank 0 saves after every this many steps and after the last
 * @param sourceColumn the input column holding source texts
 * @param targetColumn the input column holding target texts
 * @param bindHost the address workers listen on for the ring; null = the executor's own host
 * @param stepTimeout how long a worker waits for a silent peer before failing the stage
 */
public record SparkTrainConfig(int workers, long steps, long checkpointEvery, String sourceColumn,
                               String targetColumn, String bindHost, Duration stepTimeout) implements Serializable {
    private static final long serialVersionUID = 1L;

    public SparkTrainConfig {
        if (workers < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a Spark run needs at least one worker, not " + workers);
        }
        if (steps < 0 || checkpointEvery < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "steps must be >= 0 and the checkpoint interval >= 1");
        }
    }

    public static SparkTrainConfig of(int workers, long steps, long checkpointEvery) {
        return new SparkTrainConfig(workers, steps, checkpointEvery, "source", "target", null, Duration.ofSeconds(120));
    }

    public SparkTrainConfig withColumns(String source, String target) {
        return new SparkTrainConfig(workers, steps, checkpointEvery, source, target, bindHost, stepTimeout);
    }

    public SparkTrainConfig withBindHost(String host) {
        return new SparkTrainConfig(workers, steps, checkpointEvery, sourceColumn, targetColumn, host, stepTimeout);
    }

    public SparkTrainConfig withStepTimeout(Duration d) {
        return new SparkTrainConfig(workers, steps, checkpointEvery, sourceColumn, targetColumn, bindHost, d);
    }
}
