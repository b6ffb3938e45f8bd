package org.onnxlora.train;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.runtime.BoundSession;
import org.onnxlora.runtime.BoundSession.Binding;
import org.onnxlora.runtime.BoundSession.DeviceTensor;
import org.onnxlora.runtime.Device;

/**
 * The fused step ({@link FusedStep}) with the adapters and AdamW moments resident in device memory, run through
 * IO binding ({@link BoundSession}): per step only the batch, three scalars in and three out cross the bus, where
 * the plain step copies every adapter and moment both ways. With ONNX Runtime's CUDA graphs on, each binding (one
 * per state set and batch shape) is captured on its first run and the step is one graph launch. Graphs of several
 * shapes share the session only where the step graph has no {@link ReplayHazards}: a kernel that stages per-run data
 * in pinned host memory reads, at every replay, what the last run of another shape wrote there (session 9: bart-base
 * on the man-page pairs went wrong at step 89, after 47 shapes, through the gradient Concat of 72 pieces that the
 * compiler now writes as Concats of at most 32). With a hazard, the batch shape must stay the first one's.
 *
 * <p>The device holds both sets of {@link AdapterState} (current and next) and follows its current index, so a
 * skipped step costs nothing here either. The host copy is brought up to date only when read ({@link #pull}), and
 * host writes reach the device before the next step ({@link #markHostNewer}).
 */
final class DeviceFusedStep implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final AdapterLayout layout;
    private final BoundSession bound;
    private final OnnxTensor gradNormHost;
    /** CUDA graphs on and a replay hazard in the step graph: every step must have the first one's batch shape. */
    private final ReplayHazards.Hazard oneShape;
    /** Per set: the flat adapters, first moments, second moments. */
    private final DeviceTensor[] params = new DeviceTensor[2];
    private final DeviceTensor[] expAvg = new DeviceTensor[2];
    private final DeviceTensor[] expAvgSq = new DeviceTensor[2];
    private final DeviceTensor lossSum;
    private final DeviceTensor tokenCount;
    private final DeviceTensor gradNorm;
    /** By the shapes of a step's other feeds (the batch and scalars): their device tensors and one binding per set. */
    private final Map<String, Shaped> byShape = new HashMap<>();
    private boolean hostNewer = true;
    private boolean deviceNewer;

    private record Shaped(Map<String, DeviceTensor> feeds, Binding[] bySet) {}

    /**
     * Binds {@code session} (the fused step's, which stays the caller's) on {@code device}; {@code oneShape}, where
     * not null, is why the session's CUDA graphs must all have one batch shape.
     */
    DeviceFusedStep(OrtEnvironment env, OrtSession session, Device device, AdapterLayout layout,
            ReplayHazards.Hazard oneShape)
            throws OrtException {
        this.env = env;
        this.session = session;
        this.layout = layout;
        this.oneShape = oneShape;
        this.bound = BoundSession.open(session, device);
        OnnxTensor norm = null;
        try {
            norm = PinnedScalar.create(env);
            for (int set = 0; set < 2; set++) {
                params[set] = bound.allocate(OnnxJavaType.FLOAT, layout.elements());
                expAvg[set] = bound.allocate(OnnxJavaType.FLOAT, layout.elements());
                expAvgSq[set] = bound.allocate(OnnxJavaType.FLOAT, layout.elements());
            }
            lossSum = bound.allocate(OnnxJavaType.FLOAT);
            tokenCount = bound.allocate(OnnxJavaType.FLOAT);
            gradNorm = bound.allocate(OnnxJavaType.FLOAT);
        } catch (OrtException | RuntimeException e) {
            if (norm != null) {
                norm.close();
            }
            bound.close();
            throw e;
        }
        this.gradNormHost = norm;
    }

    /** As {@link FusedStep#run}, on the device-resident state. */
    double run(Map<String, OnnxTensor> batchFeeds, AdapterState state, long step, double lr, double seedScale,
            OnnxTensor lossSumHost, OnnxTensor tokenCountHost) throws OrtException {
        Map<String, OnnxTensor> feeds = new TreeMap<>(batchFeeds);
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            // the same scalars the host step feeds (its state feeds and outputs are the device's here)
            OptimizerStep.addScalars(env, step, lr, feeds, owned);
            OnnxTensor seedT = OnnxTensor.createTensor(env, seedScale);
            owned.add(seedT);
            feeds.put(FusedStepGraph.SEED_SCALE, seedT);
            String key = shapeKey(feeds);
            if (oneShape != null && !byShape.isEmpty() && !byShape.containsKey(key)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "with CUDA graphs every batch"
                        + " of this step graph must have the first one's shape (" + oneShape.description()
                        + "; recompile the artifacts with this version); got " + key + " after "
                        + byShape.keySet().iterator().next());
            }
            Shaped shaped = byShape.computeIfAbsent(key, k -> bindFor(feeds));
            if (hostNewer) {
                push(state);
            }
            feeds.forEach((name, t) -> bound.upload(t, shaped.feeds().get(name)));
            bound.run(shaped.bySet()[state.currentSet()]);
            deviceNewer = true;
            bound.download(lossSum, lossSumHost);
            bound.download(tokenCount, tokenCountHost);
            bound.download(gradNorm, gradNormHost);
            return gradNormHost.getFloatBuffer().get(0);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    private static String shapeKey(Map<String, OnnxTensor> feeds) {
        StringBuilder sb = new StringBuilder();
        feeds.forEach((n, t) -> sb.append(n).append(Arrays.toString(t.getInfo().getShape())).append(';'));
        return sb.toString();
    }

    /** Device tensors for one shape of the step's other feeds, and the binding of each state set with them. */
    private Shaped bindFor(Map<String, OnnxTensor> feeds) {
        Map<String, DeviceTensor> device = new LinkedHashMap<>();
        feeds.forEach((n, t) -> device.put(n, bound.allocate(t.getInfo().type, t.getInfo().getShape())));
        Binding[] bySet = new Binding[2];
        for (int set = 0; set < 2; set++) {
            Map<String, DeviceTensor> in = new LinkedHashMap<>(device);
            in.put(OptimizerGraph.PARAMS, params[set]);
            in.put(OptimizerGraph.EXP_AVG, expAvg[set]);
            in.put(OptimizerGraph.EXP_AVG_SQ, expAvgSq[set]);
            for (AdapterSpec s : layout.specs()) {
                // the training graph's views of the flat adapters: the same memory, as on the host
                in.put(s.name(), bound.view(params[set], layout.offset(s.name()), s.dims()));
            }
            Map<String, DeviceTensor> out = new LinkedHashMap<>();
            out.put(AdapterSpec.updated(OptimizerGraph.PARAMS), params[1 - set]);
            out.put(AdapterSpec.updated(OptimizerGraph.EXP_AVG), expAvg[1 - set]);
            out.put(AdapterSpec.updated(OptimizerGraph.EXP_AVG_SQ), expAvgSq[1 - set]);
            out.put(TrainingCompiler.LOSS_SUM, lossSum);
            out.put(TrainingCompiler.TOKEN_COUNT, tokenCount);
            out.put(OptimizerGraph.GRAD_NORM, gradNorm);
            bySet[set] = bound.bind(in, out);
        }
        return new Shaped(device, bySet);
    }

    /** The host's current set changed (initial values, a resume, a broadcast): it goes to the device before the next step. */
    void markHostNewer() {
        hostNewer = true;
    }

    /** Brings the host's current set up to date with the device's, when steps ran since it last was. */
    void pull(AdapterState state) {
        if (!deviceNewer) {
            return;
        }
        int set = state.currentSet();
        bound.download(params[set], state.params().flat());
        bound.download(expAvg[set], state.expAvg().flat());
        bound.download(expAvgSq[set], state.expAvgSq().flat());
        deviceNewer = false;
    }

    private void push(AdapterState state) {
        int set = state.currentSet();
        bound.upload(state.params().flat(), params[set]);
        bound.upload(state.expAvg().flat(), expAvg[set]);
        bound.upload(state.expAvgSq().flat(), expAvgSq[set]);
        hostNewer = false;
    }

    OrtSession session() {
        return session;
    }

    @Override
    public void close() {
        bound.close();
        gradNormHost.close();
    }
}
