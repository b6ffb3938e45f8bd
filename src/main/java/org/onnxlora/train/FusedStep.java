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
 * Runs the fused step graph ({@link FusedStepGraph}): one batch's forward, backward and AdamW step in
 * one run, reading the current {@link AdapterState} and writing the next set, with the loss and token
 * count into pinned scalars. Whether the step is kept is the caller's decision, as with
 * {@link OptimizerStep}.
 */
final class FusedStep implements AutoCloseable {
    private final OrtEnvironment env;
    private final GradNormSession session;

    /** Takes ownership of {@code session}. */
    FusedStep(OrtEnvironment env, OrtSession session) throws OrtException {
        this.env = env;
        this.session = new GradNormSession(env, session);
    }

    OrtSession session() {
        return session.session();
    }

    /**
     * Runs step {@code step} at learning rate {@code lr} on the batch in {@code batchFeeds} (its inputs,
     * labels and loss scale; the adapters and state are added here), whose gradient seed was multiplied by
     * {@code seedScale}; writes the loss sum and token count into {@code lossSum} and {@code tokenCount} and
     * returns the global gradient norm before clipping.
     */
    double run(Map<String, OnnxTensor> batchFeeds, AdapterState state, long step, double lr, double seedScale,
            OnnxTensor lossSum, OnnxTensor tokenCount) throws OrtException {
        Map<String, OnnxTensor> feeds = new HashMap<>(batchFeeds);
        Map<String, OnnxValue> pinned = new HashMap<>();
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            feeds.putAll(state.params().views());
            // the flat adapters are the same memory as the views: the optimizer reads exactly what the forward read
            OptimizerStep.addState(env, state, step, lr, feeds, pinned, owned);
            OnnxTensor seedT = OnnxTensor.createTensor(env, seedScale);
            owned.add(seedT);
            feeds.put(FusedStepGraph.SEED_SCALE, seedT);
            pinned.put(TrainingCompiler.LOSS_SUM, lossSum);
            pinned.put(TrainingCompiler.TOKEN_COUNT, tokenCount);
            return session.run(feeds, pinned);
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() {
        session.close();
    }
}
