package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The flat AdamW step (the optimizer graph, {@link OptimizerGraph}): reads the current adapters,
 * moments and summed gradient and writes the next set of {@link AdapterState}, in one run for all
 * adapters. Whether the step is kept is the caller's decision.
 */
final class OptimizerStep implements AutoCloseable {
    private final OrtEnvironment env;
    private final GradNormSession session;

    /** Takes ownership of {@code session}. */
    OptimizerStep(OrtEnvironment env, OrtSession session) throws OrtException {
        this.env = env;
        this.session = new GradNormSession(env, session);
    }

    OrtSession session() {
        return session.session();
    }

    /**
     * Runs step {@code step} at learning rate {@code lr}, the gradients multiplied by {@code gradScale}
     * (1 / (tokens · loss-scale seed)); returns the global gradient norm before clipping.
     */
    double run(AdapterState state, GradientAccumulator grads, long step, double lr, double gradScale)
            throws OrtException {
        Map<String, OnnxTensor> feeds = new HashMap<>();
        Map<String, OnnxValue> pinned = new HashMap<>();
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            feeds.put(OptimizerGraph.GRADS, grads.sum().flat());
            addState(env, state, step, lr, feeds, pinned, owned);
            OnnxTensor scaleT = OnnxTensor.createTensor(env, (float) gradScale);
            owned.add(scaleT);
            feeds.put(OptimizerGraph.GRAD_SCALE, scaleT);
            return session.run(feeds, pinned);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    /**
     * The optimizer graph's state feeds, shared with the fused step ({@link FusedStep}): the current adapters and
     * moments, the next set pinned as outputs, the learning rate and step count (tensors made go into {@code owned}).
     */
    static void addState(OrtEnvironment env, AdapterState state, long step, double lr, Map<String, OnnxTensor> feeds,
            Map<String, OnnxValue> pinned, List<OnnxTensor> owned) throws OrtException {
        feeds.put(OptimizerGraph.PARAMS, state.params().flat());
        feeds.put(OptimizerGraph.EXP_AVG, state.expAvg().flat());
        feeds.put(OptimizerGraph.EXP_AVG_SQ, state.expAvgSq().flat());
        pinned.put(AdapterSpec.updated(OptimizerGraph.PARAMS), state.nextParams().flat());
        pinned.put(AdapterSpec.updated(OptimizerGraph.EXP_AVG), state.nextExpAvg().flat());
        pinned.put(AdapterSpec.updated(OptimizerGraph.EXP_AVG_SQ), state.nextExpAvgSq().flat());
        addScalars(env, step, lr, feeds, owned);
    }

    /** The optimizer graph's learning rate and step count feeds (made into {@code owned}). */
    static void addScalars(OrtEnvironment env, long step, double lr, Map<String, OnnxTensor> feeds,
            List<OnnxTensor> owned) throws OrtException {
        OnnxTensor lrT = OnnxTensor.createTensor(env, lr);
        owned.add(lrT);
        OnnxTensor stepT = OnnxTensor.createTensor(env, step);
        owned.add(stepT);
        feeds.put(OptimizerGraph.LR, lrT);
        feeds.put(OptimizerGraph.STEP, stepT);
    }

    @Override
    public void close() {
        session.close();
    }
}
