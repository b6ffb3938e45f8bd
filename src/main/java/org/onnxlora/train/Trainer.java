package org.onnxlora.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.Setting;
import org.onnxlora.data.Batch;
import org.onnxlora.data.DataPosition;
import org.onnxlora.data.BatchSource;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.run.LossScaleState;
import org.onnxlora.run.RunSummary;

/**
 * The training loop: micro-batches → gradients → AdamW, with validation,
 * checkpoints, metrics and divergence detection. Everything that decides a step's
 * result (adapters, moments, step, data position, learning rate as a function of
 * the step) is in the checkpoint, so a resumed run reproduces an uninterrupted one
 * bit for bit. A stop request (the CLI's Ctrl-C) is honoured between steps: the step
 * in flight finishes, a checkpoint is written, and the run returns.
 */
public final class Trainer {
    private final TrainingSession session;
    private final GradientStep gradients;
    private final TrainConfig config;
    private final Path runDir;
    private final String fingerprint;
    private final Progress progress;

    public Trainer(TrainingSession session, TrainConfig config, Path runDir, String fingerprint, Progress progress) {
        this(session, GradientStep.of(session), config, runDir, fingerprint, progress);
    }

    /**
     * A trainer whose steps run through {@code gradients} (a data-parallel group, say); {@code session}
     * holds the state after every step, evaluates and is what checkpoints save.
     */
    public Trainer(TrainingSession session, GradientStep gradients, TrainConfig config, Path runDir, String fingerprint,
            Progress progress) {
        this.session = session;
        this.gradients = gradients;
        this.config = config;
        this.runDir = runDir;
        this.fingerprint = fingerprint;
        this.progress = progress;
    }

    /** Restores a checkpoint into the session and the data stream; returns its step. */
    public long resume(Checkpoint.Loaded ck, BatchSource data) {
        Checkpoint.State st = ck.state();
        if (!st.fingerprint().equals(fingerprint)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "checkpoint " + ck.dir()
                    + " belongs to a run with another model or configuration; start a new run folder or use the same settings");
        }
        if (st.step() > config.totalSteps()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "checkpoint " + ck.dir() + " is at step " + st.step()
                    + ", past the run's " + config.totalSteps() + " steps");
        }
        // The position follows from the step: every step consumes gradAccum batches from the start.
        long consumed;
        try {
            consumed = Math.multiplyExact(st.step(), (long) config.gradAccum());
        } catch (ArithmeticException e) {
            consumed = -1;
        }
        long perEpoch = data.batchesPerEpoch();
        if (consumed < 0 || !st.position().equals(DataPosition.after(consumed, perEpoch))) {
            throw new OnnxLoraException(ErrorCode.IO, "checkpoint state " + ck.dir().resolve(Checkpoint.STATE)
                    + " is damaged: epoch " + st.position().epoch() + ", batch " + st.position().batch()
                    + " is not where step " + st.step()
                    + " leaves the data (" + perEpoch + " batches per epoch, " + config.gradAccum() + " per step)");
        }
        for (AdapterSpec s : session.adapters()) {
            for (var part : java.util.List.of(ck.adapters(), ck.expAvg(), ck.expAvgSq())) {
                if (!part.contains(s.name())) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "checkpoint " + ck.dir()
                            + " has no tensor '" + s.name() + "'");
                }
            }
        }
        gradients.setState(st.step(), ck.adapters(), ck.expAvg(), ck.expAvgSq());
        session.lossScaler().ifPresent(ls -> LossScaleState.read(ck.dir()).ifPresent(ls::restore));
        data.seek(st.position());
        return st.step();
    }

    public RunSummary run(BatchSource data, List<Batch> valid, long startStep) {
        return run(data, valid, startStep, () -> false);
    }

    /**
     * Trains from {@code startStep} to the configured length, or until {@code stopRequested}
     * says so after a step; then that step is checkpointed and the summary says
     * {@code interrupted}, with {@code steps} the step reached.
     */
    public RunSummary run(BatchSource data, List<Batch> valid, long startStep, BooleanSupplier stopRequested) {
        RunDirectory run = RunDirectory.at(runDir);
        long t0 = System.nanoTime();
        long tokens = 0;
        double lastLoss = Double.NaN;
        RecentLosses recent = new RecentLosses();
        Double validLoss = null;
        Double initialValid = null;
        Path lastCheckpoint = Checkpoint.latest(runDir).orElse(null);
        long reached = startStep;
        boolean interrupted = false;
        try (MetricsLog log = MetricsLog.open(run.metrics(), startStep)) {
            log.attach(TensorBoardMetrics.open(runDir, startStep));
            if (startStep == 0 && !valid.isEmpty()) {
                initialValid = evaluate(valid);
                validLoss = initialValid;
                log.write(entry("eval", 0, "valid_loss", initialValid));
            }
            progress.start("train", config.totalSteps());
            progress.advance(startStep, "");
            for (long step = startStep + 1; step <= config.totalSteps(); step++) {
                long s0 = System.nanoTime();
                double lossSum = 0;
                double count = 0;
                long stepTokens = 0;
                long paddedTokens = 0;
                StringBuilder shapes = new StringBuilder();
                double lr = config.schedule().at(step);
                // one batch per step: forward, backward and update at once (one run where the session fuses them)
                TrainingSession.Step whole = null;
                for (int k = 0; k < config.gradAccum(); k++) {
                    Batch b = data.next();
                    TrainingSession.Pass p;
                    if (config.gradAccum() == 1) {
                        whole = gradients.step(b, lr);
                        p = whole.pass();
                    } else {
                        p = gradients.forwardBackward(b);
                    }
                    lossSum += p.lossSum();
                    count += p.tokens();
                    stepTokens += b.realTokens();
                    paddedTokens += (long) b.size() * (b.sourceLength() + b.targetLength());
                    shapes.append(k == 0 ? "" : ",").append(b.size()).append('x').append(b.sourceLength()).append('+')
                            .append(b.targetLength());
                }
                double loss = count > 0 ? lossSum / count : 0;
                if (!Double.isFinite(loss)) {
                    throw diverged("loss", loss, step, lastCheckpoint);
                }
                double gradNorm = whole != null ? whole.gradNorm() : gradients.applyUpdate(lr);
                // fp16: an overflowed step is skipped by the loss scaler, not a divergence
                boolean skipped = session.lossScaler().map(LossScaler::lastSkipped).orElse(false);
                if (!Double.isFinite(gradNorm) && !skipped) {
                    throw diverged("gradient norm", gradNorm, step, lastCheckpoint);
                }
                double seconds = (System.nanoTime() - s0) / 1e9;
                tokens += stepTokens;
                lastLoss = loss;
                recent.add(loss);
                Map<String, Object> e = StepEntry.train(step, loss, lr, gradNorm, stepTokens, seconds);
                e.put("padded_tokens", paddedTokens);
                e.put("padded_shape", shapes.toString());
                // several devices: the share of the step spent summing their gradients (weak-scaling benchmarks)
                gradients.allReduceSeconds().ifPresent(x -> e.put("allreduce_seconds", x));
                e.put("epoch", data.position().epoch());
                session.lossScaler().ifPresent(ls -> {
                    e.put("loss_scale", ls.scale());
                    e.put("skipped_steps", ls.state().skippedSteps());
                    e.put("skipped", skipped);
                });
                log.write(e);
                boolean last = step == config.totalSteps();
                if (!valid.isEmpty() && (last || (config.evalEvery() > 0 && step % config.evalEvery() == 0))) {
                    validLoss = evaluate(valid);
                    log.write(entry("eval", step, "valid_loss", validLoss));
                }
                reached = step;
                interrupted = !last && stopRequested.getAsBoolean();
                if (last || interrupted || (config.saveEvery() > 0 && step % config.saveEvery() == 0)) {
                    try {
                        lastCheckpoint = Checkpoint.save(runDir, checkpointTensors(session), new Checkpoint.State(step, data.position(),
                                config.seed(), fingerprint, loss), config.keepCheckpoints(),
                                session.lossScaler().map(LossScaler::state).orElse(null));
                    } catch (OnnxLoraException notSaved) {
                        if (notSaved.code() == ErrorCode.DIVERGED) {
                            throw diverged(notSaved.getMessage(), lastCheckpoint);
                        }
                        throw notSaved;
                    }
                }
                progress.advance(step, String.format(java.util.Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s%s",
                        loss, lr, stepTokens / seconds, validLoss == null ? "" : String.format(java.util.Locale.ROOT,
                                " valid %.4f", validLoss)));
                if (interrupted) {
                    break;
                }
            }
            progress.finish();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double trainLoss = recent.meanOr(lastLoss);
        Path ck = lastCheckpoint;
        return new RunSummary(interrupted ? reached : config.totalSteps(), trainLoss, validLoss,
                tokens / Math.max(seconds, 1e-9), seconds, ck == null ? null : ck.resolve(Checkpoint.ADAPTERS).toString(),
                ck == null ? null : ck.toString(), initialValid, interrupted,
                session.lossScaler().map(LossScaler::scale).orElse(null),
                session.lossScaler().map(ls -> ls.state().skippedSteps()).orElse(null));
    }

    /** The session's adapters and AdamW moments as a checkpoint holds them (also the data-parallel worker's). */
    static List<Checkpoint.Tensor> checkpointTensors(TrainingSession session) {
        List<Checkpoint.Tensor> out = new ArrayList<>();
        for (AdapterSpec spec : session.adapters()) {
            out.add(new Checkpoint.Tensor(spec.name(), spec.dims(), session.adapter(spec.name()),
                    session.expAvg(spec.name()), session.expAvgSq(spec.name())));
        }
        return out;
    }

    /** Mean token loss over {@code batches} with the current adapters. */
    public double evaluate(List<Batch> batches) {
        double sum = 0;
        double tokens = 0;
        for (Batch b : batches) {
            TrainingSession.Pass p = session.evaluate(b);
            sum += p.lossSum();
            tokens += p.tokens();
        }
        return tokens > 0 ? sum / tokens : Double.NaN;
    }

    private static Map<String, Object> entry(String event, long step, String key, double value) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("event", event);
        e.put("step", step);
        e.put(key, value);
        return e;
    }

    private static OnnxLoraException diverged(String what, double value, long step, Path lastGood) {
        return diverged(what + " became " + value + " at step " + step, lastGood);
    }

    private static OnnxLoraException diverged(String event, Path lastGood) {
        return new OnnxLoraException(ErrorCode.DIVERGED, Setting.LEARNING_RATE, event
                + "; training stopped" + (lastGood == null ? " (no checkpoint was written yet)"
                        : ", the last good checkpoint is " + lastGood) + "; try a lower learning rate or a longer warm-up");
    }
}
