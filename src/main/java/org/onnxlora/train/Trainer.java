package org.onnxlora.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;

/**
 * The training loop: micro-batches → gradients → AdamW, with validation,
 * checkpoints, metrics and divergence detection. Everything that decides a step's
 * result (adapters, moments, step, data position, learning rate as a function of
 * the step) is in the checkpoint, so a resumed run reproduces an uninterrupted one
 * bit for bit.
 */
public final class Trainer {
    /** What the run achieved; serialised as the command's JSON summary. */
    public record Summary(long steps, double trainLoss, Double validLoss, double tokensPerSecond, double seconds,
            String adapters, String checkpoint, Double initialValidLoss) {}

    private final TrainingSession session;
    private final TrainConfig config;
    private final Path runDir;
    private final String fingerprint;
    private final Progress progress;

    public Trainer(TrainingSession session, TrainConfig config, Path runDir, String fingerprint, Progress progress) {
        this.session = session;
        this.config = config;
        this.runDir = runDir;
        this.fingerprint = fingerprint;
        this.progress = progress;
    }

    /** Restores a checkpoint into the session and the data stream; returns its step. */
    public long resume(Checkpoint.Loaded ck, BatchSource data) {
        if (!ck.state().fingerprint().equals(fingerprint)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--resume: " + ck.dir()
                    + " belongs to a run with another model or configuration; start a new --out or use the same settings");
        }
        for (AdapterSpec s : session.adapters()) {
            if (!ck.adapters().containsKey(s.name())) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--resume: checkpoint " + ck.dir()
                        + " has no tensor '" + s.name() + "'");
            }
        }
        session.setState(ck.state().step(), ck.adapters(), ck.expAvg(), ck.expAvgSq());
        data.seek(new BatchSource.Position(ck.state().epoch(), ck.state().batchIndex()));
        return ck.state().step();
    }

    public Summary run(BatchSource data, List<Batch> valid, long startStep) {
        long t0 = System.nanoTime();
        long tokens = 0;
        double lastLoss = Double.NaN;
        List<Double> recent = new ArrayList<>();
        Double validLoss = null;
        Double initialValid = null;
        Path lastCheckpoint = Checkpoint.latest(runDir).orElse(null);
        try (MetricsLog log = MetricsLog.open(runDir.resolve("metrics.jsonl"), startStep)) {
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
                for (int k = 0; k < config.gradAccum(); k++) {
                    Batch b = data.next();
                    TrainingSession.Pass p = session.forwardBackward(b);
                    lossSum += p.lossSum();
                    count += p.tokens();
                    stepTokens += b.realTokens();
                }
                double loss = count > 0 ? lossSum / count : 0;
                if (!Double.isFinite(loss)) {
                    throw diverged("loss", loss, step, lastCheckpoint);
                }
                double lr = config.schedule().at(step);
                double gradNorm = session.applyUpdate(lr);
                if (!Double.isFinite(gradNorm)) {
                    throw diverged("gradient norm", gradNorm, step, lastCheckpoint);
                }
                double seconds = (System.nanoTime() - s0) / 1e9;
                tokens += stepTokens;
                lastLoss = loss;
                recent.add(loss);
                if (recent.size() > 20) {
                    recent.remove(0);
                }
                Map<String, Object> e = entry("train", step, "loss", loss);
                e.put("lr", lr);
                e.put("grad_norm", gradNorm);
                e.put("tokens", stepTokens);
                e.put("tokens_per_second", stepTokens / seconds);
                e.put("epoch", data.position().epoch());
                log.write(e);
                boolean last = step == config.totalSteps();
                if (!valid.isEmpty() && (last || (config.evalEvery() > 0 && step % config.evalEvery() == 0))) {
                    validLoss = evaluate(valid);
                    log.write(entry("eval", step, "valid_loss", validLoss));
                }
                if (last || (config.saveEvery() > 0 && step % config.saveEvery() == 0)) {
                    BatchSource.Position pos = data.position();
                    lastCheckpoint = Checkpoint.save(runDir, session, new Checkpoint.State(step, pos.epoch(),
                            pos.index(), config.seed(), fingerprint, loss), config.keepCheckpoints());
                }
                progress.advance(step, String.format(java.util.Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s%s",
                        loss, lr, stepTokens / seconds, validLoss == null ? "" : String.format(java.util.Locale.ROOT,
                                " valid %.4f", validLoss)));
            }
            progress.finish();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double trainLoss = recent.stream().mapToDouble(Double::doubleValue).average().orElse(lastLoss);
        Path ck = Checkpoint.latest(runDir).orElse(null);
        return new Summary(config.totalSteps(), trainLoss, validLoss, tokens / Math.max(seconds, 1e-9), seconds,
                ck == null ? null : ck.resolve(Checkpoint.ADAPTERS).toString(), ck == null ? null : ck.toString(),
                initialValid);
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
        return new OnnxLoraException(ErrorCode.DIVERGED, what + " became " + value + " at step " + step
                + "; training stopped" + (lastGood == null ? " (no checkpoint was written yet)"
                        : ", the last good checkpoint is " + lastGood) + " (try a lower --lr or a longer --warmup)");
    }
}
