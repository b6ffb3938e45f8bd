package org.onnxlora.api;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.TrainingCompiler;
import org.onnxlora.train.TrainingSession;

/**
 * Timing the training step itself (forward, backward and the AdamW update) on compiled artifacts
 * ({@link TrainingSetup#compile}), with no data loading, evaluation or checkpoints in the way.
 */
public final class TrainingBenchmark {
    private TrainingBenchmark() {}

    /** Notes while it runs; both default to nothing. */
    public interface Listener {
        /** The sessions are open; no step has run. */
        default void opened() {}

        /** Step {@code index} (from 0, warm-up included) took {@code wallNanos}. */
        default void stepDone(int index, long wallNanos) {}
    }

    /**
     * @param stepMs wall time of each measured step (after the warm-up)
     * @param outsideOrtShare per measured step, the share of its wall time spent outside {@code OrtSession.run}
     * @param profiles ONNX Runtime profile files, when the runtime options asked for profiling
     * @param skippedSteps steps fp16 loss scaling skipped, or -1 without loss scaling
     */
    public record Result(double[] stepMs, double[] outsideOrtShare, List<Path> profiles, long skippedSteps) {}

    /**
     * Runs {@code warmup + steps} steps at learning rate {@code lr}, one batch from {@code batches} each, as
     * {@code train} runs them for one batch per step on one device (the fused step).
     */
    public static Result measure(Path artifacts, RuntimeOptions runtime, int warmup, int steps, double lr,
            Supplier<Batch> batches, Listener listener) {
        return measure(artifacts, runtime, false, warmup, steps, lr, batches, listener);
    }

    /**
     * As above; {@code separateStep} runs each step as train does with gradient accumulation, in the separate
     * training and optimizer sessions (to compare).
     */
    public static Result measure(Path artifacts, RuntimeOptions runtime, boolean separateStep, int warmup,
            int steps, double lr, Supplier<Batch> batches, Listener listener) {
        double[] stepMs = new double[steps];
        double[] outside = new double[steps];
        TrainingSession.StepMode mode = separateStep ? TrainingSession.StepMode.SEPARATE : TrainingSession.StepMode.FUSED;
        try (TrainingSession s = new TrainingSession(artifacts, runtime, mode)) {
            listener.opened();
            for (int i = 0; i < warmup + steps; i++) {
                Batch b = batches.get();
                long runBefore = s.runNanos();
                long start = System.nanoTime();
                s.step(b, lr);
                long wall = System.nanoTime() - start;
                if (i >= warmup) {
                    stepMs[i - warmup] = wall / 1e6;
                    outside[i - warmup] = 1.0 - (double) (s.runNanos() - runBefore) / wall;
                }
                listener.stepDone(i, wall);
            }
            List<Path> profiles = s.endProfiling();
            long skipped = s.lossScaler().map(ls -> ls.state().skippedSteps()).orElse(-1L);
            return new Result(stepMs, outside, profiles, skipped);
        }
    }

    /**
     * The {@link RuntimeOptions#DIM_PREFIX} options that fix the compiled graphs' batch, source and target
     * dims at {@code batch} × {@code sourceLength} + {@code targetLength}: sessions opened with them let ONNX
     * Runtime fold the shape arithmetic, and accept only batches of exactly that shape (an export's own
     * fixed sizes, where it has them, in place of the ones asked for). The dims are read from the training
     * graph's batch inputs (ids and masks, as its signature names them, and the labels); none found is an error.
     */
    public static Map<String, String> fixedDims(Path artifacts, long batch, long sourceLength, long targetLength) {
        TrainingCompiler.Artifacts a = ArtifactStore.read(artifacts);
        Seq2SeqSignature signature = TrainingSession.signatureOf(a);
        // batches are fed in the sizes an export fixes (StaticBatches), so those win where it fixes them
        Seq2SeqSignature.StaticShape fixed = signature.staticShape();
        long rows = fixed.batch() > 0 ? fixed.batch() : batch;
        long source = fixed.sourceLength() > 0 ? fixed.sourceLength() : sourceLength;
        long target = fixed.targetLength() > 0 ? fixed.targetLength() : targetLength;
        Map<String, Boolean> onSourceSide = new HashMap<>();
        for (Seq2SeqSignature.Input i : signature.inputs()) {
            switch (i.feed()) {
                case INPUT_IDS, ATTENTION_MASK -> onSourceSide.put(i.name(), true);
                case DECODER_INPUT_IDS, DECODER_ATTENTION_MASK -> onSourceSide.put(i.name(), false);
                default -> { }
            }
        }
        onSourceSide.put(TrainingCompiler.LABELS, false);
        Map<String, String> dims = new TreeMap<>();
        for (ValueInfoProto v : a.training().getGraph().getInputList()) {
            Boolean src = onSourceSide.get(v.getName());
            if (src == null || !v.getType().getTensorType().hasShape()) {
                continue;
            }
            List<TensorShapeProto.Dimension> d = v.getType().getTensorType().getShape().getDimList();
            for (int axis = 0; axis < Math.min(2, d.size()); axis++) {
                if (d.get(axis).hasDimParam() && !d.get(axis).getDimParam().isEmpty()) {
                    long size = axis == 0 ? rows : src ? source : target;
                    dims.put(RuntimeOptions.DIM_PREFIX + d.get(axis).getDimParam(), Long.toString(size));
                }
            }
        }
        if (dims.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the training graph in " + artifacts
                    + " has no symbolic batch or sequence dims to fix");
        }
        return dims;
    }
}
