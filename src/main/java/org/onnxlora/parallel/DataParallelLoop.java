package org.onnxlora.parallel;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * The step loop of one rank: agree on where to resume, then for each step compute local gradients,
 * sum them with every rank's, and apply the same optimizer step everywhere; rank 0 checkpoints.
 * The same loop serves several devices of one process ({@link LocalAllReduce}) and many processes
 * ({@link RingAllReduce}).
 */
public final class DataParallelLoop {

    /**
     * @param steps the last step to run (the run's total)
     * @param checkpointEvery rank 0 saves after every this many steps, and after the last
     */
    public record Options(long steps, long checkpointEvery) {
        public Options {
            if (steps < 0 || checkpointEvery < 1) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "steps must be >= 0 and the checkpoint interval >= 1");
            }
        }
    }

    /** Where the run resumed and the global mean loss of each step run here. */
    public record Result(long resumedFrom, List<Double> meanLosses) {}

    private DataParallelLoop() {}

    public static Result run(DataParallelWorker worker, AllReduce group, Options options) {
        long start = agreedStart(worker, group);
        worker.restore(start);
        List<Double> losses = new ArrayList<>();
        double[] counts = new double[2];
        for (long step = start + 1; step <= options.steps(); step++) {
            StepGradients g = worker.computeGradients(step);
            counts[0] = g.tokens();
            counts[1] = g.lossSum();
            group.sum(g.gradients(), counts);
            worker.applySummed(step, g.gradients(), counts[0]);
            losses.add(counts[0] > 0 ? counts[1] / counts[0] : 0.0);
            if (group.rank() == 0 && (step % options.checkpointEvery() == 0 || step == options.steps())) {
                worker.checkpoint(step);
            }
        }
        return new Result(start, losses);
    }

    /**
     * Rank 0's latest checkpoint, sent to everybody (a sum in which only rank 0 contributes): ranks
     * must not each pick "the latest" they see, since a rank 0 of a failed attempt may still be
     * finishing a save while the new attempt starts.
     */
    private static long agreedStart(DataParallelWorker worker, AllReduce group) {
        double[] step = {group.rank() == 0 ? worker.latestCheckpoint() : 0};
        group.sum(new float[0], step);
        return (long) step[0];
    }
}
