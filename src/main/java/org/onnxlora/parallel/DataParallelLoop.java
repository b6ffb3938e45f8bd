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

    /**
     * Runs the steps after the agreed checkpoint up to {@code options.steps()}. A verdict
     * ({@link StopVerdict#isVerdict}) met before the first step — rank 0 finding a checkpoint of
     * another run, a rank that cannot load the agreed one — is thrown on every rank alike; later
     * failures, and crashes at any time, fail the rank that meets them and, through the group, its
     * peers.
     */
    public static Result run(DataParallelWorker worker, AllReduce group, Options options) {
        long start = agreedStart(worker, group);
        OnnxLoraException notRestored = null;
        try {
            worker.restore(start);
        } catch (OnnxLoraException e) {
            if (!StopVerdict.isVerdict(e)) {
                throw e;
            }
            notRestored = e;
        }
        StopVerdict.agree(group, notRestored);
        List<Double> losses = new ArrayList<>();
        for (long step = start + 1; step <= options.steps(); step++) {
            long t0 = System.nanoTime();
            StepGradients g = worker.computeGradients(step);
            double[] counts = {g.tokens(), g.lossSum(), g.realTokens()};
            long s0 = System.nanoTime();
            group.sum(g.gradients(), counts);
            long s1 = System.nanoTime();
            worker.applySummed(step, g.gradients(), counts[0]);
            double loss = counts[0] > 0 ? counts[1] / counts[0] : 0.0;
            losses.add(loss);
            if (group.rank() == 0) {
                worker.logStep(new StepRecord(step, loss, counts[0], counts[2], (System.nanoTime() - t0) / 1e9,
                        (s1 - s0) / 1e9, group.size()));
                if (step % options.checkpointEvery() == 0 || step == options.steps()) {
                    worker.checkpoint(step);
                }
            }
        }
        if (group.rank() == 0) {
            worker.finish(options.steps());
        }
        return new Result(start, losses);
    }

    /**
     * Rank 0's latest checkpoint, sent to everybody (a sum in which only rank 0 contributes): ranks
     * must not each pick "the latest" they see, since a rank 0 of a failed attempt may still be
     * finishing a save while the new attempt starts.
     */
    private static long agreedStart(DataParallelWorker worker, AllReduce group) {
        long latest = 0;
        OnnxLoraException refused = null;
        if (group.rank() == 0) {
            try {
                latest = worker.latestCheckpoint();
            } catch (OnnxLoraException e) {
                if (!StopVerdict.isVerdict(e)) {
                    throw e;
                }
                refused = e; // the others wait in the sum below: tell them, do not leave them to time out
            }
        }
        StopVerdict.agree(group, refused);
        double[] step = {latest};
        group.sum(new float[0], step);
        return (long) step[0];
    }
}
