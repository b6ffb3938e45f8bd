package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.data.Batch;

/**
 * Runs compiled training artifacts on ONNX Runtime.
 *
 * <p>Frozen weights live inside the sessions (shared, not copied: {@link FrozenWeights});
 * per step only adapter-sized tensors cross the JNI boundary. All adapters, their gradients
 * and their moments live in flat direct buffers allocated once ({@link FlatAdapterBuffer}):
 * the training graph reads each adapter from a view of the flat parameters and writes each
 * gradient into a view of the flat gradient, and the optimizer updates the flat buffers in one
 * multi-tensor step. Outputs are pinned, the optimizer's are double-buffered and swapped, so a
 * step allocates nothing but the batch tensors.
 *
 * <p><b>Data parallelism.</b> A step is two halves that may run apart: {@link #forwardBackward}
 * accumulates a gradient and a token count ({@link #accumulatedGradients()},
 * {@link #accumulatedTokens()}), and {@link #applyUpdate} turns whatever is accumulated into one
 * AdamW step. N sessions (one per worker) each run forward/backward on their share of the batch;
 * the host sums their flat gradients and token counts, hands the sums to one session with
 * {@link #setAccumulatedGradients}, applies the update there and broadcasts the new values
 * ({@link #adapterValues()}, {@link #setAdapterValues}) — or every worker applies the same sums, which
 * keeps their moments equal too. Summing two sessions' gradients on the host is the same float
 * addition the session does for two micro-batches, so the result is bit-identical to one session
 * accumulating both (GradientSeamTest).
 *
 * <p><b>The fused step.</b> Opened in {@link StepMode#FUSED}, the session runs {@link #step} (one batch,
 * one optimizer step) as one graph ({@link FusedStepGraph}) in one ONNX Runtime session, and opens no
 * separate training or optimizer session: on CUDA every session costs its own execution provider
 * (~146 MiB of GPU memory) and the separate step a second run and a gradient round trip through the
 * host. What the separate pair needs (a batch that a static-shape export cuts into several pieces,
 * {@link #forwardBackward} called on its own, artifacts written before the step model) opens the
 * pair on first use, beside the fused session (two more sessions' memory from then on).
 *
 * <p><b>Device-resident state.</b> With {@link RuntimeOptions#IO_BINDING} the fused step runs through IO binding
 * ({@link DeviceFusedStep}, Java 22+): the adapters and moments stay in the session device's memory, and every
 * method here that reads or writes them on the host brings the host copy up to date first or marks the device's
 * stale, so what a caller sees is what the Java API path would give, to the bit. With CUDA graphs on as well
 * ({@link RuntimeOptions#CUDA_GRAPH}) the step's session captures one graph per state set and batch shape
 * ({@link DeviceFusedStep} says when shapes must stay one); the sessions of the other paths (evaluation, the
 * separate graphs) open without capture and read the host copy.
 */
public final class TrainingSession implements AutoCloseable {
    private final OrtEnvironment env = Sessions.env();
    private final TrainingCompiler.Artifacts artifacts;
    private final FrozenWeights frozen;
    private final GraphSessions graphs;
    /** {@link #graphs} without CUDA graph capture: every session but the bound step's. */
    private final GraphSessions uncaptured;
    /** The fused step, in {@link StepMode#FUSED} with artifacts that have it; null otherwise. */
    private final FusedStep fused;
    /** The fused step through IO binding, its state on the device ({@link RuntimeOptions#ioBinding}); null otherwise. */
    private final DeviceFusedStep device;
    /** The separate training and optimizer graphs: opened at the start, or in fused mode on first need. */
    private OrtSession training;
    private OptimizerStep optimizer;
    private OrtSession eval;
    private final List<AdapterSpec> specs;
    private final Seq2SeqSignature signature;
    private final TrainingFeeds feedsOf;
    /** fp16 artifacts only (their training graph takes {@link TrainingCompiler#LOSS_SCALE}); null otherwise. */
    private final LossScaler scaler;
    /** What this optimizer step's gradient seed is multiplied by (1 without loss scaling). */
    private double seedScale = 1;

    private final AdapterState state;
    private final GradientAccumulator grads;
    private final OnnxTensor lossSum;
    private final OnnxTensor tokenCount;
    private long step;
    private long runNanos;
    private boolean closed;

    /**
     * How the session runs an optimizer step, chosen when it opens. {@link #FUSED} for one batch per
     * step on one device: {@link #step} is one run of one session. {@link #SEPARATE} for gradient
     * accumulation and data parallelism, which need the gradient between the halves of a step
     * ({@link #forwardBackward}, {@link #applyUpdate}).
     */
    public enum StepMode {
        SEPARATE, FUSED
    }

    /** One optimizer step's pass and the gradient norm before clipping. */
    public record Step(Pass pass, double gradNorm) {}

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
        this(artifactDir, options, StepMode.SEPARATE);
    }

    public TrainingSession(Path artifactDir, RuntimeOptions options, StepMode mode) {
        this(ArtifactStore.read(artifactDir), options, mode);
    }

    public TrainingSession(TrainingCompiler.Artifacts artifacts, RuntimeOptions options) {
        this(artifacts, options, StepMode.SEPARATE);
    }

    /** {@code mode} {@link StepMode#FUSED} on artifacts without a step model opens the separate pair. */
    public TrainingSession(TrainingCompiler.Artifacts artifacts, RuntimeOptions options, StepMode mode) {
        Path dir = artifacts.directory().orElseThrow(() ->
                new IllegalArgumentException("write the artifacts with ArtifactStore first"));
        this.artifacts = artifacts;
        this.specs = artifacts.adapters();
        // before any session exists: a precision the device cannot run is one line, not an ORT stack
        Precision.of(artifacts.training()).requireRunnableOn(options.device());
        this.scaler = artifacts.training().getGraph().getInputList().stream()
                .anyMatch(i -> i.getName().equals(TrainingCompiler.LOSS_SCALE))
                ? new LossScaler(LossScaler.Config.DEFAULT) : null;
        if (options.cudaGraph() && !options.ioBinding()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "CUDA graphs ("
                    + RuntimeOptions.CUDA_GRAPH + "=1) capture the fused step run through IO binding: give "
                    + RuntimeOptions.IO_BINDING + "=1 too (--cuda-graph sets both)");
        }
        if (options.cudaGraph() && mode != StepMode.FUSED) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "CUDA graphs capture the fused"
                    + " step, one optimizer step per batch on one device: they do not combine with gradient"
                    + " accumulation, several devices or the separate step");
        }
        this.signature = signatureOf(artifacts);
        this.feedsOf = new TrainingFeeds(env, signature);
        this.frozen = new FrozenWeights(artifacts.training());
        this.graphs = new GraphSessions(options, frozen);
        this.uncaptured = new GraphSessions(options.withoutCudaGraph(), frozen);
        AdapterLayout layout = new AdapterLayout(specs);
        OrtSession f = null;
        FusedStep fs = null;
        DeviceFusedStep ds = null;
        AdapterState st = null;
        GradientAccumulator acc = null;
        List<OnnxTensor> scalars = new ArrayList<>();
        try {
            java.util.Optional<Path> stepModel = mode == StepMode.FUSED ? ArtifactStore.stepModel(dir)
                    : java.util.Optional.empty();
            if (stepModel.isPresent()) {
                ReplayHazards.Hazard oneShape = options.cudaGraph() ? shapeHazard(stepModel.get()) : null;
                f = graphs.openWithFrozen(stepModel.get(), "step");
                fs = new FusedStep(env, f);
                f = null;
                if (options.ioBinding()) {
                    ds = new DeviceFusedStep(env, fs.session(), options.device(), layout, oneShape);
                }
            } else {
                openSeparate();
            }
            st = new AdapterState(env, layout);
            acc = new GradientAccumulator(env, layout);
            lossSum = scalarBuffer(scalars);
            tokenCount = scalarBuffer(scalars);
            for (AdapterSpec s : specs) {
                st.params().write(s.name(), Tensors.toFloats(artifacts.initialAdapters().get(s.name())));
            }
        } catch (OrtException | RuntimeException e) {
            // nothing made so far outlives a failed start
            closeQuietly(f);
            closeQuietly(training);
            for (AutoCloseable c : new AutoCloseable[] {ds, fs, optimizer, st, acc}) {
                closeQuietly(c);
            }
            scalars.forEach(OnnxTensor::close);
            frozen.close();
            throw e instanceof OnnxLoraException ole ? ole
                    : new OnnxLoraException(ErrorCode.RUNTIME, "cannot start training: " + e.getMessage(), e);
        }
        this.fused = fs;
        this.device = ds;
        this.state = st;
        this.grads = acc;
    }

    /**
     * The step graph's first {@link ReplayHazards} hazard, or null: whether CUDA graphs of many shapes can share it.
     * Refuses a graph that no CUDA graph replays soundly, even of one shape, before any session exists.
     */
    private static ReplayHazards.Hazard shapeHazard(Path stepModel) {
        List<ReplayHazards.Hazard> hazards = ReplayHazards.of(ModelIO.load(stepModel).getGraph());
        for (ReplayHazards.Hazard h : hazards) {
            if (h.everyReplay()) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "CUDA graphs cannot replay"
                        + " this step graph (" + stepModel + "): " + h.description() + "; recompile the artifacts"
                        + " with this version, or train without --cuda-graph");
            }
        }
        return hazards.isEmpty() ? null : hazards.get(0);
    }

    /** Opens the separate training and optimizer graphs, once. */
    private void openSeparate() {
        if (training != null) {
            return;
        }
        OrtSession t = uncaptured.openWithFrozen(artifacts.directory().orElseThrow().resolve(ArtifactStore.TRAINING),
                "training");
        OrtSession o = null;
        try {
            // from memory: artifacts of an older format get a rebuilt optimizer (ArtifactStore.read)
            o = uncaptured.open(artifacts.optimizer(), "optimizer");
            optimizer = new OptimizerStep(env, o);
        } catch (OrtException | RuntimeException e) {
            closeQuietly(t);
            closeQuietly(o);
            throw e instanceof OnnxLoraException ole ? ole
                    : new OnnxLoraException(ErrorCode.RUNTIME, "cannot open the optimizer: " + e.getMessage(), e);
        }
        training = t;
    }

    /** The training graph's contract: every input but the adapters and labels, which the session feeds itself. */
    public static Seq2SeqSignature signatureOf(TrainingCompiler.Artifacts artifacts) {
        java.util.Set<String> own = new java.util.HashSet<>();
        artifacts.adapters().forEach(a -> own.add(a.name()));
        own.add(TrainingCompiler.LABELS);
        own.add(TrainingCompiler.LOSS_SCALE);
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

    private OnnxTensor scalarBuffer(List<OnnxTensor> made) throws OrtException {
        OnnxTensor t = PinnedScalar.create(env);
        made.add(t);
        return t;
    }

    /**
     * Ends profiling (when {@link RuntimeOptions#profilePrefix()} is set) and returns the
     * profile files ORT wrote, one per open session (the step, training, optimizer and eval graphs, in this
     * order); empty when not profiling.
     */
    public List<Path> endProfiling() {
        List<OrtSession> open = new ArrayList<>();
        if (fused != null) {
            open.add(fused.session());
        }
        if (training != null) {
            open.add(training);
            open.add(optimizer.session());
        }
        if (eval != null) {
            open.add(eval);
        }
        return graphs.endProfiling(open);
    }

    /** The graphs with an open session, in {@link #endProfiling()} order (fused mode opens only {@code step}). */
    List<String> openGraphs() {
        List<String> open = new ArrayList<>();
        if (fused != null) {
            open.add("step");
        }
        if (training != null) {
            open.add("training");
            open.add("optimizer");
        }
        if (eval != null) {
            open.add("eval");
        }
        return open;
    }

    public List<AdapterSpec> adapters() {
        return specs;
    }

    public long step() {
        return step;
    }

    /** Wall time spent inside {@code OrtSession.run} (step, training and optimizer graphs) so far. */
    public long runNanos() {
        return runNanos;
    }

    /**
     * One optimizer step on {@code batch} at learning rate {@code lr}: {@link #forwardBackward} then
     * {@link #applyUpdate}, as one run of the fused graph where the session has it and the batch is one
     * piece (with the same result to the bit).
     */
    public Step step(Batch batch, double lr) {
        List<Batch> pieces = feedsOf.fitted(batch);
        if (fused != null && pieces.size() == 1 && grads.isEmpty()) {
            return fusedStep(pieces.get(0), lr);
        }
        Pass p = forwardBackward(pieces);
        return new Step(p, applyUpdate(lr));
    }

    private Step fusedStep(Batch batch, double lr) {
        step++;
        if (scaler != null) {
            // as forwardBackwardFitted sets it for a step's first micro-batch
            seedScale = scaler.scale() / Math.max(1, TrainingFeeds.labelTokens(batch));
        }
        Map<String, OnnxTensor> feeds = new HashMap<>();
        List<OnnxTensor> owned = feedsOf.add(batch, feeds);
        if (scaler != null) {
            feedsOf.addLossScale((float) seedScale, feeds, owned);
        }
        double norm;
        long t0 = System.nanoTime();
        try {
            norm = device != null ? device.run(feeds, state, step, lr, seedScale, lossSum, tokenCount)
                    : fused.run(feeds, state, step, lr, seedScale, lossSum, tokenCount);
        } catch (OrtException e) {
            step--;
            throw new OnnxLoraException(ErrorCode.RUNTIME, "training step failed: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // refused before it ran (a second batch shape under CUDA graphs): the step did not happen
            step--;
            throw e;
        } finally {
            runNanos += System.nanoTime() - t0;
            owned.forEach(OnnxTensor::close);
        }
        Pass pass = new Pass(lossSum.getFloatBuffer().get(0), tokenCount.getFloatBuffer().get(0));
        if (scaler != null && !scaler.update(norm)) {
            // overflowed: skipped as applyUpdate skips it (the next buffers are dropped, the step count stays)
            step--;
            return new Step(pass, norm);
        }
        state.advance();
        return new Step(pass, norm);
    }

    /** Runs forward and backward on {@code batch}; gradients of the summed loss add up until {@link #applyUpdate}. */
    public Pass forwardBackward(Batch batch) {
        return forwardBackward(feedsOf.fitted(batch));
    }

    private Pass forwardBackward(List<Batch> pieces) {
        openSeparate();
        // A static-shape export takes fixed-size pieces; their summed losses and gradients are the batch's.
        double loss = 0;
        double tokens = 0;
        for (Batch piece : pieces) {
            Pass p = forwardBackwardFitted(piece);
            loss += p.lossSum();
            tokens += p.tokens();
        }
        return new Pass(loss, tokens);
    }

    private Pass forwardBackwardFitted(Batch batch) {
        Map<String, OnnxTensor> feeds = new HashMap<>(hostState().params().views());
        List<OnnxTensor> owned = feedsOf.add(batch, feeds);
        Map<String, OnnxValue> pinned = new HashMap<>();
        grads.target().views().forEach((name, t) -> pinned.put(AdapterSpec.grad(name), t));
        pinned.put(TrainingCompiler.LOSS_SUM, lossSum);
        pinned.put(TrainingCompiler.TOKEN_COUNT, tokenCount);
        if (scaler != null) {
            if (grads.isEmpty()) {
                // GradScaler scales the mean loss; the graph differentiates the summed loss, so the seed is
                // scale / tokens of the step's first micro-batch, and stays so for the step's later ones
                seedScale = scaler.scale() / Math.max(1, TrainingFeeds.labelTokens(batch));
            }
            feedsOf.addLossScale((float) seedScale, feeds, owned);
        }
        long t0 = System.nanoTime();
        try (OrtSession.Result r = training.run(feeds, pinned)) {
            runNanos += System.nanoTime() - t0;
            double loss = lossSum.getFloatBuffer().get(0);
            double tokens = tokenCount.getFloatBuffer().get(0);
            grads.added(tokens);
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
        if (grads.isEmpty()) {
            throw new IllegalStateException("applyUpdate without forwardBackward");
        }
        openSeparate();
        step++;
        double gradScale = gradientScale();
        long t0 = System.nanoTime();
        double norm;
        try {
            norm = optimizer.run(hostStateForWrite(), grads, step, lr, gradScale);
        } catch (OrtException e) {
            step--;
            throw new OnnxLoraException(ErrorCode.RUNTIME, "optimizer step failed: " + e.getMessage(), e);
        } finally {
            runNanos += System.nanoTime() - t0;
        }
        grads.clear();
        if (scaler != null && !scaler.update(norm)) {
            // overflowed: the step is skipped (the updated buffers are dropped, AdamW's step count stays)
            step--;
            return norm;
        }
        state.advance();
        return norm;
    }

    /** Loss of {@code batch} with the current adapters, without gradients (the eval graph). */
    public Pass evaluate(Batch batch) {
        if (eval == null) {
            eval = uncaptured.openWithFrozen(artifacts.directory().orElseThrow().resolve(ArtifactStore.EVAL), "eval");
        }
        double loss = 0;
        double tokens = 0;
        for (Batch piece : feedsOf.fitted(batch)) {
            Pass p = evaluateFitted(piece);
            loss += p.lossSum();
            tokens += p.tokens();
        }
        return new Pass(loss, tokens);
    }

    private Pass evaluateFitted(Batch batch) {
        Map<String, OnnxTensor> feeds = new HashMap<>(hostState().params().views());
        List<OnnxTensor> owned = feedsOf.add(batch, feeds);
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

    /** The fp16 loss scaler, present when the artifacts were compiled for fp16. */
    public java.util.Optional<LossScaler> lossScaler() {
        return java.util.Optional.ofNullable(scaler);
    }

    /** Current value of adapter {@code name} (a copy). */
    public float[] adapter(String name) {
        return hostState().params().read(name);
    }

    public float[] expAvg(String name) {
        return hostState().expAvg().read(name);
    }

    public float[] expAvgSq(String name) {
        return hostState().expAvgSq().read(name);
    }

    /** Gradient of the summed loss accumulated since the last update (a copy). */
    public float[] accumulatedGradient(String name) {
        return grads.sum().read(name);
    }

    /** The gradient accumulated since the last update, all adapters in {@link #adapters()} order (a copy). */
    public float[] accumulatedGradients() {
        return grads.sum().readAll();
    }

    /**
     * What the next {@link #applyUpdate} multiplies the accumulated gradient by to get the gradient of the
     * mean loss: one over its tokens and, with fp16 loss scaling, over the scale its seed carried (the
     * optimizer graph's grad_scale).
     */
    public double gradientScale() {
        return 1.0 / (Math.max(1.0, grads.tokens()) * seedScale);
    }

    /** Tokens the accumulated gradient was summed over (the update divides by them). */
    public double accumulatedTokens() {
        return grads.tokens();
    }

    /**
     * Replaces the accumulated gradient and token count, e.g. with the sums of several sessions'
     * {@link #accumulatedGradients()} and {@link #accumulatedTokens()}; the next {@link #applyUpdate}
     * uses them.
     */
    public void setAccumulatedGradients(float[] gradients, double tokens) {
        grads.set(gradients, tokens);
    }

    /** The current adapter values, all adapters in {@link #adapters()} order (a copy). */
    public float[] adapterValues() {
        return hostState().params().readAll();
    }

    /** Sets every adapter at once (broadcasting another session's {@link #adapterValues()}). */
    public void setAdapterValues(float[] values) {
        hostStateForWrite().params().writeAll(values);
    }

    public void setAdapter(String name, float[] values) {
        hostStateForWrite().params().write(name, values);
    }

    /** Restores optimizer state (resume). */
    public void setState(long step, AdapterValues adapters, AdapterValues m, AdapterValues v) {
        this.step = step;
        AdapterState state = hostStateForWrite();
        for (AdapterSpec s : specs) {
            state.params().write(s.name(), adapters.get(s.name()));
            state.expAvg().write(s.name(), m.get(s.name()));
            state.expAvgSq().write(s.name(), v.get(s.name()));
        }
    }

    /** The adapter state on the host, brought up to date first where the steps run on the device's copy. */
    private AdapterState hostState() {
        if (device != null) {
            device.pull(state);
        }
        return state;
    }

    /** {@link #hostState()} for a caller that changes it: the device's copy takes the change before the next step. */
    private AdapterState hostStateForWrite() {
        if (device != null) {
            device.pull(state);
            device.markHostNewer();
        }
        return state;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // already failing
            }
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
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(device);
        closeQuietly(fused);
        closeQuietly(training);
        closeQuietly(optimizer);
        closeQuietly(eval);
        state.close();
        grads.close();
        lossSum.close();
        tokenCount.close();
        frozen.close();
    }
}
