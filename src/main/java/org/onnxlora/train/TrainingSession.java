package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Tensors;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Sessions;

/**
 * Runs compiled training artifacts on ONNX Runtime.
 *
 * <p>Frozen weights live inside the sessions (shared, not copied: {@link FrozenWeights});
 * per step only adapter-sized tensors cross the JNI boundary. Every adapter, gradient
 * and moment lives in a direct buffer allocated once; outputs are pinned into them and
 * the optimizer's outputs are double-buffered and swapped, so a step allocates nothing
 * but the batch tensors.
 */
public final class TrainingSession implements AutoCloseable {
    private final OrtEnvironment env = Sessions.env();
    private final TrainingCompiler.Artifacts artifacts;
    private final FrozenWeights frozen;
    private final OrtSession training;
    private final OrtSession optimizer;
    private OrtSession eval;
    private final RuntimeOptions options;
    private final List<AdapterSpec> specs;
    private final Seq2SeqSignature signature;

    // [0] current, [1] next: swapped after every optimizer step
    private final Slot[] params;
    private final Slot[] expAvg;
    private final Slot[] expAvgSq;
    private final Slot grads;
    private final Slot accum;
    private final OnnxTensor lossSum;
    private final OnnxTensor tokenCount;
    private final OnnxTensor gradNorm;
    private int current;
    private int accumulated;
    private double accumulatedTokens;
    private long step;
    private long runNanos;

    /** One buffer per adapter, each wrapped as an OnnxTensor once. */
    private static final class Slot {
        final Map<String, FloatBuffer> buffers = new LinkedHashMap<>();
        final Map<String, OnnxTensor> tensors = new LinkedHashMap<>();

        Slot(OrtEnvironment env, List<AdapterSpec> specs) throws OrtException {
            for (AdapterSpec s : specs) {
                FloatBuffer b = ByteBuffer.allocateDirect(Math.toIntExact(s.elements() * 4))
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
                buffers.put(s.name(), b);
                tensors.put(s.name(), OnnxTensor.createTensor(env, b, s.dims()));
            }
        }

        void close() {
            tensors.values().forEach(OnnxTensor::close);
        }
    }

    /** Loss and token count of one forward(-backward) pass. */
    public record Pass(double lossSum, double tokens) {
        public double meanLoss() {
            return tokens > 0 ? lossSum / tokens : 0;
        }
    }

    /**
     * Opens artifacts written by {@link ArtifactStore} (sessions are created from the
     * files, so ONNX Runtime resolves their external data; the frozen weights are then
     * overridden with the shared mapping).
     */
    public TrainingSession(Path artifactDir, RuntimeOptions options) {
        this(ArtifactStore.read(artifactDir), options);
    }

    public TrainingSession(TrainingCompiler.Artifacts artifacts, RuntimeOptions options) {
        if (artifacts.directory() == null) {
            throw new IllegalArgumentException("write the artifacts with ArtifactStore first");
        }
        this.artifacts = artifacts;
        this.options = options;
        this.specs = artifacts.adapters();
        this.signature = signatureOf(artifacts);
        this.frozen = new FrozenWeights(artifacts.training());
        OrtSession t = null;
        OrtSession o = null;
        try {
            t = open(artifacts.directory().resolve(ArtifactStore.TRAINING), "training", true);
            o = open(artifacts.directory().resolve(ArtifactStore.OPTIMIZER), "optimizer", false);
            params = new Slot[] {new Slot(env, specs), new Slot(env, specs)};
            expAvg = new Slot[] {new Slot(env, specs), new Slot(env, specs)};
            expAvgSq = new Slot[] {new Slot(env, specs), new Slot(env, specs)};
            grads = new Slot(env, specs);
            accum = new Slot(env, specs);
            lossSum = scalarBuffer();
            tokenCount = scalarBuffer();
            gradNorm = scalarBuffer();
        } catch (OrtException | RuntimeException e) {
            closeQuietly(t);
            closeQuietly(o);
            frozen.close();
            throw e instanceof OnnxLoraException ole ? ole
                    : new OnnxLoraException(ErrorCode.RUNTIME, "cannot start training: " + e.getMessage(), e);
        }
        this.training = t;
        this.optimizer = o;
        for (AdapterSpec s : specs) {
            setAdapter(s.name(), Tensors.toFloats(artifacts.initialAdapters().get(s.name())));
        }
    }

    /** The training graph's contract: every input but the adapters and labels, which the session feeds itself. */
    static Seq2SeqSignature signatureOf(TrainingCompiler.Artifacts artifacts) {
        java.util.Set<String> own = new java.util.HashSet<>();
        artifacts.adapters().forEach(a -> own.add(a.name()));
        own.add(TrainingCompiler.LABELS);
        return Seq2SeqSignature.of(artifacts.eval(), null, ModelFamily.bart(), own, artifacts.logitsOutput());
    }

    /** What the graphs take, as fed from each batch. */
    public Seq2SeqSignature signature() {
        return signature;
    }

    /**
     * Writes the training graph as ONNX Runtime optimizes it for {@code options} (the
     * same configuration a session uses), to check what it keeps in memory.
     */
    public static void writeOptimizedTrainingGraph(Path artifactDir, RuntimeOptions options, Path out) {
        TrainingCompiler.Artifacts a = ArtifactStore.read(artifactDir);
        try (FrozenWeights fw = new FrozenWeights(a.training());
                SessionOptions so = Sessions.options(options.withOptimizedModelPath(out))) {
            fw.addTo(so);
            try (OrtSession s = Sessions.env().createSession(artifactDir.resolve(ArtifactStore.TRAINING).toString(), so)) {
                s.getInputNames();
            }
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot optimize the training graph: " + e.getMessage(), e);
        }
    }

    private OnnxTensor scalarBuffer() throws OrtException {
        FloatBuffer b = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        return OnnxTensor.createTensor(env, b, new long[0]);
    }

    /** Opens one graph; {@code what} (training, optimizer, eval) also suffixes its profile file, if profiling. */
    private OrtSession open(Path file, String what, boolean withFrozen) {
        RuntimeOptions o = options.profilePrefix() == null ? options
                : options.withProfilePrefix(Path.of(options.profilePrefix() + "_" + what));
        try (SessionOptions so = Sessions.options(o)) {
            if (withFrozen) {
                frozen.addTo(so);
            }
            return env.createSession(file.toString(), so);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load the " + what + " graph: "
                    + e.getMessage(), e);
        }
    }

    /**
     * Ends profiling (when {@link RuntimeOptions#profilePrefix()} is set) and returns the
     * profile files ORT wrote, training graph first; empty when not profiling.
     */
    public List<Path> endProfiling() {
        if (options.profilePrefix() == null) {
            return List.of();
        }
        List<Path> files = new ArrayList<>();
        try {
            for (OrtSession s : eval == null ? List.of(training, optimizer) : List.of(training, optimizer, eval)) {
                files.add(Path.of(s.endProfiling()));
            }
            return files;
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot end profiling: " + e.getMessage(), e);
        }
    }

    public List<AdapterSpec> adapters() {
        return specs;
    }

    public long step() {
        return step;
    }

    /** Wall time spent inside {@code OrtSession.run} (training and optimizer graphs) so far. */
    public long runNanos() {
        return runNanos;
    }

    /** Runs forward and backward on {@code batch}; gradients of the summed loss add up until {@link #applyUpdate}. */
    public Pass forwardBackward(Batch batch) {
        // A static-shape export takes fixed-size pieces; their summed losses and gradients are the batch's.
        double loss = 0;
        double tokens = 0;
        for (Batch piece : fitted(batch)) {
            Pass p = forwardBackwardFitted(piece);
            loss += p.lossSum();
            tokens += p.tokens();
        }
        return new Pass(loss, tokens);
    }

    private List<Batch> fitted(Batch batch) {
        return StaticBatches.fit(batch, signature.staticShape(), signature.padTokenId(),
                signature.decoderStartTokenId());
    }

    private Pass forwardBackwardFitted(Batch batch) {
        Map<String, OnnxTensor> feeds = new HashMap<>(params[current].tensors);
        List<OnnxTensor> owned = batchTensors(batch, feeds, true);
        Map<String, OnnxValue> pinned = new HashMap<>();
        // The first micro-batch writes its gradients straight into the accumulator; later ones add to it.
        Slot target = accumulated == 0 ? accum : grads;
        target.tensors.forEach((name, t) -> pinned.put(AdapterSpec.grad(name), t));
        pinned.put(TrainingCompiler.LOSS_SUM, lossSum);
        pinned.put(TrainingCompiler.TOKEN_COUNT, tokenCount);
        long t0 = System.nanoTime();
        try (OrtSession.Result r = training.run(feeds, pinned)) {
            runNanos += System.nanoTime() - t0;
            double loss = lossSum.getFloatBuffer().get(0);
            double tokens = tokenCount.getFloatBuffer().get(0);
            if (accumulated > 0) {
                for (AdapterSpec s : specs) {
                    add(grads.buffers.get(s.name()), accum.buffers.get(s.name()));
                }
            }
            accumulated++;
            accumulatedTokens += tokens;
            return new Pass(loss, tokens);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "training step failed: " + e.getMessage(), e);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    /**
     * One AdamW step on the gradients accumulated since the last update, averaged
     * over all their tokens; returns the global gradient norm before clipping.
     */
    public double applyUpdate(double lr) {
        if (accumulated == 0) {
            throw new IllegalStateException("applyUpdate without forwardBackward");
        }
        step++;
        Map<String, OnnxTensor> feeds = new HashMap<>();
        Map<String, OnnxValue> pinned = new HashMap<>();
        int next = 1 - current;
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            for (AdapterSpec s : specs) {
                String n = s.name();
                feeds.put(n, params[current].tensors.get(n));
                feeds.put(AdapterSpec.grad(n), accum.tensors.get(n));
                feeds.put(AdapterSpec.expAvg(n), expAvg[current].tensors.get(n));
                feeds.put(AdapterSpec.expAvgSq(n), expAvgSq[current].tensors.get(n));
                pinned.put(AdapterSpec.updated(n), params[next].tensors.get(n));
                pinned.put(AdapterSpec.updated(AdapterSpec.expAvg(n)), expAvg[next].tensors.get(n));
                pinned.put(AdapterSpec.updated(AdapterSpec.expAvgSq(n)), expAvgSq[next].tensors.get(n));
            }
            OnnxTensor lrT = OnnxTensor.createTensor(env, lr);
            OnnxTensor stepT = OnnxTensor.createTensor(env, step);
            OnnxTensor scaleT = OnnxTensor.createTensor(env, (float) (1.0 / Math.max(1.0, accumulatedTokens)));
            owned.addAll(List.of(lrT, stepT, scaleT));
            feeds.put(OptimizerGraph.LR, lrT);
            feeds.put(OptimizerGraph.STEP, stepT);
            feeds.put(OptimizerGraph.GRAD_SCALE, scaleT);
            pinned.put(OptimizerGraph.GRAD_NORM, gradNorm);
            long t0 = System.nanoTime();
            try (OrtSession.Result r = optimizer.run(feeds, pinned)) {
                current = next;
            }
            runNanos += System.nanoTime() - t0;
            accumulated = 0;
            accumulatedTokens = 0;
            return gradNorm.getFloatBuffer().get(0);
        } catch (OrtException e) {
            step--;
            throw new OnnxLoraException(ErrorCode.RUNTIME, "optimizer step failed: " + e.getMessage(), e);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    /** Loss of {@code batch} with the current adapters, without gradients (the eval graph). */
    public Pass evaluate(Batch batch) {
        if (eval == null) {
            eval = open(artifacts.directory().resolve(ArtifactStore.EVAL), "eval", true);
        }
        double loss = 0;
        double tokens = 0;
        for (Batch piece : fitted(batch)) {
            Pass p = evaluateFitted(piece);
            loss += p.lossSum();
            tokens += p.tokens();
        }
        return new Pass(loss, tokens);
    }

    private Pass evaluateFitted(Batch batch) {
        Map<String, OnnxTensor> feeds = new HashMap<>(params[current].tensors);
        List<OnnxTensor> owned = batchTensors(batch, feeds, true);
        try (OrtSession.Result r = eval.run(feeds,
                java.util.Set.of(TrainingCompiler.LOSS_SUM, TrainingCompiler.TOKEN_COUNT))) {
            float loss = (Float) ((OnnxTensor) r.get(TrainingCompiler.LOSS_SUM).orElseThrow()).getValue();
            float tokens = (Float) ((OnnxTensor) r.get(TrainingCompiler.TOKEN_COUNT).orElseThrow()).getValue();
            return new Pass(loss, tokens);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "evaluation failed: " + e.getMessage(), e);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    private List<OnnxTensor> batchTensors(Batch b, Map<String, OnnxTensor> feeds, boolean withLabels) {
        List<OnnxTensor> owned = BatchFeeds.add(env, signature, b, feeds);
        if (withLabels) {
            try {
                OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(b.labels()),
                        new long[] {b.size(), b.targetLength()});
                feeds.put(TrainingCompiler.LABELS, t);
                owned.add(t);
            } catch (OrtException e) {
                owned.forEach(OnnxTensor::close);
                throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create batch tensors: " + e.getMessage(), e);
            }
        }
        return owned;
    }

    /** Current value of adapter {@code name} (a copy). */
    public float[] adapter(String name) {
        return read(params[current].buffers.get(name));
    }

    public float[] expAvg(String name) {
        return read(expAvg[current].buffers.get(name));
    }

    public float[] expAvgSq(String name) {
        return read(expAvgSq[current].buffers.get(name));
    }

    /** Gradient of the summed loss accumulated since the last update (a copy). */
    public float[] accumulatedGradient(String name) {
        return read(accum.buffers.get(name));
    }

    public void setAdapter(String name, float[] values) {
        write(params[current].buffers.get(name), values);
    }

    /** Restores optimizer state (resume). */
    public void setState(long step, Map<String, float[]> adapters, Map<String, float[]> m, Map<String, float[]> v) {
        this.step = step;
        for (AdapterSpec s : specs) {
            write(params[current].buffers.get(s.name()), adapters.get(s.name()));
            write(expAvg[current].buffers.get(s.name()), m.get(s.name()));
            write(expAvgSq[current].buffers.get(s.name()), v.get(s.name()));
        }
    }

    private static float[] read(FloatBuffer b) {
        float[] out = new float[b.capacity()];
        b.duplicate().rewind().get(out);
        return out;
    }

    private static void write(FloatBuffer b, float[] values) {
        if (values.length != b.capacity()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH,
                    "adapter values have " + values.length + " elements, expected " + b.capacity());
        }
        b.duplicate().rewind().put(values);
    }

    private static void add(FloatBuffer from, FloatBuffer to) {
        for (int i = 0; i < to.capacity(); i++) {
            to.put(i, to.get(i) + from.get(i));
        }
    }

    private static void closeQuietly(OrtSession s) {
        if (s != null) {
            try {
                s.close();
            } catch (OrtException ignored) {
                // already failing
            }
        }
    }

    @Override
    public void close() {
        closeQuietly(training);
        closeQuietly(optimizer);
        closeQuietly(eval);
        for (Slot[] pair : List.of(params, expAvg, expAvgSq)) {
            pair[0].close();
            pair[1].close();
        }
        grads.close();
        accum.close();
        lossSum.close();
        tokenCount.close();
        gradNorm.close();
        frozen.close();
    }
}
