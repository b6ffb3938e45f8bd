package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A float scalar over a direct buffer, for a run to write an output into (pinned: nothing allocated per step). */
final class PinnedScalar {
    private PinnedScalar() {}

    static OnnxTensor create(OrtEnvironment env) throws OrtException {
        return OnnxTensor.createTensor(env, ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder()).asFloatBuffer(),
                new long[0]);
    }
}
