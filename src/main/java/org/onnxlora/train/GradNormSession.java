package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Map;

/**
 * A session whose runs end in AdamW's global gradient norm, written into a pinned scalar this owns: what
 * the flat optimizer step ({@link OptimizerStep}) and the fused step ({@link FusedStep}) share.
 */
final class GradNormSession implements AutoCloseable {
    private final OrtSession session;
    private final OnnxTensor gradNorm;

    /** Takes ownership of {@code session}. */
    GradNormSession(OrtEnvironment env, OrtSession session) throws OrtException {
        this.session = session;
        try {
            this.gradNorm = PinnedScalar.create(env);
        } catch (OrtException | RuntimeException e) {
            session.close();
            throw e;
        }
    }

    OrtSession session() {
        return session;
    }

    /** Runs on {@code feeds} into the {@code pinned} outputs and the norm; returns the norm before clipping. */
    double run(Map<String, OnnxTensor> feeds, Map<String, OnnxValue> pinned) throws OrtException {
        pinned.put(OptimizerGraph.GRAD_NORM, gradNorm);
        try (OrtSession.Result r = session.run(feeds, pinned)) {
            return gradNorm.getFloatBuffer().get(0);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException ignored) {
            // closing: nothing to recover
        }
        gradNorm.close();
    }
}
