package org.onnxlora.train;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataPosition;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.StepGradients;
import org.onnxlora.parallel.StepRecord;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.run.RunSummary;

/**
 * One rank of a data-parallel run on a real {@link TrainingSession}: each step takes one batch from
 * each of its shards (the batch at the position the step alone fixes, so a restarted stage sees the
 * batches an uninterrupted one would), accumulates their gradients in shard order, and applies the
 * ranks' summed gradients with the run's learning-rate schedule. Checkpoints are the run folder's
 * ({@link Checkpoint}), so merge, export and eval read them like any run's; rank 0 also writes the
 * run's metrics.jsonl (and tb/) and, at the end, its summary.json, as a single-process run does: a
 * resumed rank 0 first drops the entries after the step it resumed from, which the new attempt redoes.
 *
 * <p>A worker given several shards computes, by gradient accumulation, what as many workers given
 * one shard each compute together: the same micro-batches, summed in the same order.
 */
public final class SessionWorker implements DataParallelWorker {
    /** A stage restarted while the failed one's rank 0 still saves may find the newest one unfinished. */
    private static final int MIN_KEPT = 2;

    private final TrainingSession session;
    private final List<Batcher> shards;
    private final LrSchedule schedule;
    private final Path runDir;
    private final String fingerprint;
    private final long seed;
    private final int keep;
    private final int accumulate;
    private final Path scratch;
    private double lastLoss = Double.NaN;
    private double lastLr = Double.NaN;
    private double lastNorm = Double.NaN;
    private long resumedFrom;
    private long startNanos = System.nanoTime();
    /** Rank 0's, opened at its first logged step (the other ranks never write the run folder). */
    private MetricsLog metrics;
    private final RecentLosses recent = new RecentLosses();
    private double tokensHere;

    /**
     * Takes ownership of {@code session}.
     *
     * @param shards this rank's data, one batcher per shard, in the order their gradients add up
     * @param accumulate batches per shard and step
     * @param fingerprint the content hash of the model and the training settings
     * @param scratch a folder this worker alone uses (its own compiled artifacts), deleted on close; may be null
     */
    public SessionWorker(TrainingSession session, List<Batcher> shards, int accumulate, LrSchedule schedule,
            Path runDir, String fingerprint, long seed, int keepCheckpoints, Path scratch) {
        if (shards.isEmpty()) {
            session.close();
            throw new IllegalArgumentException("a worker needs at least one shard");
        }
        if (session.lossScaler().isPresent()) {
            session.close();
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "fp16 loss scaling runs on one device only;"
                    + " use fp32, tf32 or bf16 with several workers");
        }
        this.session = session;
        this.shards = List.copyOf(shards);
        this.schedule = schedule;
        this.runDir = runDir;
        this.fingerprint = fingerprint;
        this.seed = seed;
        this.keep = Math.max(MIN_KEPT, keepCheckpoints);
        this.accumulate = accumulate;
        this.scratch = scratch;
    }

    @Override
    public String fingerprint() {
        return fingerprint;
    }

    /** The session (its adapters after the last step), for tests and a caller's own evaluation. */
    public TrainingSession session() {
        return session;
    }

    @Override
    public long latestCheckpoint() {
        Optional<Path> latest = Checkpoint.latest(runDir);
        if (latest.isEmpty()) {
            return 0;
        }
        Checkpoint.State st = Checkpoint.readState(latest.get());
        requireOwn(latest.get(), st);
        return st.step();
    }

    @Override
    public void restore(long step) {
        resumedFrom = step;
        startNanos = System.nanoTime();
        if (step == 0) {
            return; // the compiled initial adapters, the same on every rank
        }
        Path dir = RunDirectory.at(runDir).checkpoints().resolve(String.format("step-%08d", step));
        Checkpoint.Loaded ck = Checkpoint.load(dir);
        requireOwn(dir, ck.state());
        session.setState(step, ck.adapters(), ck.expAvg(), ck.expAvgSq());
    }

    private void requireOwn(Path dir, Checkpoint.State st) {
        if (!st.fingerprint().equals(fingerprint)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "checkpoint " + dir + " belongs to a run with another"
                    + " model or configuration; use a new run folder or the same settings");
        }
    }

    @Override
    public StepGradients computeGradients(long step) {
        double loss = 0;
        long realTokens = 0;
        for (Batcher shard : shards) {
            for (int k = 0; k < accumulate; k++) {
                // the step's batches of this shard: a pure function of (step, shard, seed)
                DataPosition at = DataPosition.after((step - 1) * accumulate + k, shard.batchesPerEpoch());
                Batch b = shard.batch(at);
                loss += session.forwardBackward(b).lossSum();
                realTokens += b.realTokens();
            }
        }
        return new StepGradients(session.accumulatedGradients(), session.accumulatedTokens(), loss, realTokens);
    }

    @Override
    public void applySummed(long step, float[] gradients, double tokens) {
        session.setAccumulatedGradients(gradients, tokens);
        lastLr = schedule.at(step);
        double norm = session.applyUpdate(lastLr);
        lastNorm = norm;
        if (!Double.isFinite(norm)) {
            throw new OnnxLoraException(ErrorCode.DIVERGED, "gradient norm became " + norm + " at step " + step
                    + "; training stopped (try a lower learning rate or a longer warm-up)");
        }
    }

    /** The entry a single-process run logs per step (train's field names), with the figures of all ranks. */
    @Override
    public void logStep(StepRecord r) {
        if (metrics == null) {
            metrics = MetricsLog.open(RunDirectory.at(runDir).metrics(), resumedFrom);
            metrics.attach(TensorBoardMetrics.open(runDir, resumedFrom));
        }
        // what a checkpoint records as its last loss: the step's, over every rank's tokens
        lastLoss = r.loss();
        recent.add(r.loss());
        tokensHere += r.tokens();
        Map<String, Object> e = StepEntry.train(r.step(), r.loss(), lastLr, lastNorm, (long) r.tokens(), r.stepSeconds());
        e.put("allreduce_seconds", r.allReduceSeconds());
        e.put("epoch", DataPosition.after(r.step() * accumulate, shards.get(0).batchesPerEpoch()).epoch());
        e.put("workers", r.workers());
        metrics.write(e);
    }

    /** summary.json as a single-process run writes it (this attempt's time and throughput). */
    @Override
    public void finish(long steps) {
        closeMetrics();
        RunDirectory run = RunDirectory.at(runDir);
        if (recent.isEmpty() && run.readSummary().isPresent()) {
            return; // a finished run started again: nothing ran, the summary stands
        }
        Optional<Path> ck = Checkpoint.latest(runDir);
        double trainLoss = recent.isEmpty()
                ? ck.map(p -> Checkpoint.readState(p).lastLoss()).orElse(Double.NaN)
                : recent.meanOr(Double.NaN);
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        run.writeSummary(new RunSummary(steps, trainLoss, null, tokensHere / Math.max(seconds, 1e-9), seconds,
                ck.map(p -> p.resolve(Checkpoint.ADAPTERS).toString()).orElse(null),
                ck.map(Path::toString).orElse(null), null, false));
    }

    private void closeMetrics() {
        if (metrics != null) {
            metrics.close();
            metrics = null;
        }
    }

    @Override
    public void checkpoint(long step) {
        Checkpoint.save(runDir, Trainer.checkpointTensors(session), new Checkpoint.State(step,
                DataPosition.after(step * accumulate, shards.get(0).batchesPerEpoch()), seed, fingerprint, lastLoss),
                keep);
    }

    @Override
    public void close() {
        closeMetrics();
        session.close();
        if (scratch != null) {
            try {
                org.onnxlora.io.FileTrees.delete(scratch);
            } catch (java.io.IOException | RuntimeException e) {
                // a temporary folder left behind costs disk, not correctness
            }
        }
    }
}
