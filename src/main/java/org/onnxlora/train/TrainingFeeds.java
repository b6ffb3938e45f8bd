package org.onnxlora.train;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.LongBuffer;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.data.BatchFeeds;
import org.onnxlora.data.StaticBatches;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * What the training and eval graphs take from a batch beyond the adapters: the model's inputs as the
 * signature names them, the labels and, with fp16 loss scaling, the gradient seed's scale. A batch
 * for a static-shape export is first cut into pieces of the exported shape.
 */
final class TrainingFeeds {
    private final OrtEnvironment env;
    private final Seq2SeqSignature signature;

    TrainingFeeds(OrtEnvironment env, Seq2SeqSignature signature) {
        this.env = env;
        this.signature = signature;
    }

    /** {@code batch}, or for a static-shape export its pieces of the exported shape. */
    List<Batch> fitted(Batch batch) {
        return StaticBatches.fit(batch, signature.staticShape(), signature.padTokenId(),
                signature.decoderStartTokenId());
    }

    /** Adds the batch's inputs and labels to {@code feeds}; returns the tensors made, which the caller closes. */
    List<OnnxTensor> add(Batch b, Map<String, OnnxTensor> feeds) {
        List<OnnxTensor> owned = BatchFeeds.add(env, signature, b, feeds);
        try {
            OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(b.labels()),
                    new long[] {b.size(), b.targetLength()});
            feeds.put(TrainingCompiler.LABELS, t);
            owned.add(t);
        } catch (OrtException e) {
            owned.forEach(OnnxTensor::close);
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create batch tensors: " + e.getMessage(), e);
        }
        return owned;
    }

    /** Adds the loss-scale feed; on failure closes {@code owned}. */
    void addLossScale(float scale, Map<String, OnnxTensor> feeds, List<OnnxTensor> owned) {
        try {
            OnnxTensor t = OnnxTensor.createTensor(env, scale);
            owned.add(t);
            feeds.put(TrainingCompiler.LOSS_SCALE, t);
        } catch (OrtException e) {
            owned.forEach(OnnxTensor::close);
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create the loss scale: " + e.getMessage(), e);
        }
    }

    /** Labels that count towards the loss (not the ignore index). */
    static long labelTokens(Batch b) {
        long n = 0;
        for (long l : b.labels()) {
            n += l == Seq2SeqSignature.IGNORE_INDEX ? 0 : 1;
        }
        return n;
    }
}
