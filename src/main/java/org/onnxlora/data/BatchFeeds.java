package org.onnxlora.data;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * Turns a {@link Batch} into the tensors a graph's {@link Seq2SeqSignature} asks for, in the
 * element type each input declares. {@code decoder_attention_mask} is 1 on real target
 * positions (labels other than the ignore index) and on the decoder start position, so a
 * filler row is never fully masked; for real rows the two are the same.
 */
public final class BatchFeeds {
    private BatchFeeds() {}

    /** Adds one tensor per signature input to {@code feeds}; returns them so the caller closes them. */
    public static List<OnnxTensor> add(OrtEnvironment env, Seq2SeqSignature signature, Batch b,
            Map<String, OnnxTensor> feeds) {
        List<OnnxTensor> owned = new ArrayList<>();
        try {
            long[] src = {b.size(), b.sourceLength()};
            long[] tgt = {b.size(), b.targetLength()};
            for (Seq2SeqSignature.Input in : signature.inputs()) {
                OnnxTensor t = switch (in.feed()) {
                    case INPUT_IDS -> tensor(env, in, b.inputIds(), src);
                    case ATTENTION_MASK -> tensor(env, in, b.attentionMask(), src);
                    case DECODER_INPUT_IDS -> tensor(env, in, b.decoderInputIds(), tgt);
                    case DECODER_ATTENTION_MASK -> tensor(env, in, decoderMask(b), tgt);
                    default -> throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name() + "' of "
                            + signature.what() + " (" + in.feed().key() + ") cannot be fed from a batch of text pairs;"
                            + " give the whole encoder-decoder model (an Optimum folder, not one of its files)");
                };
                owned.add(t);
                feeds.put(in.name(), t);
            }
            return owned;
        } catch (OrtException | RuntimeException e) {
            owned.forEach(OnnxTensor::close);
            if (e instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot create batch tensors: " + e.getMessage(), e);
        }
    }

    /** 1 where a label counts, and at position 0 (the decoder start token). */
    public static long[] decoderMask(Batch b) {
        long[] labels = b.labels();
        long[] m = new long[labels.length];
        for (int i = 0; i < labels.length; i++) {
            m[i] = labels[i] != Seq2SeqSignature.IGNORE_INDEX || i % b.targetLength() == 0 ? 1 : 0;
        }
        return m;
    }

    private static OnnxTensor tensor(OrtEnvironment env, Seq2SeqSignature.Input in, long[] values, long[] shape)
            throws OrtException {
        if (in.elemType() == DataType.INT32_VALUE) {
            int[] v = new int[values.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = Math.toIntExact(values[i]);
            }
            return OnnxTensor.createTensor(env, IntBuffer.wrap(v), shape);
        }
        return OnnxTensor.createTensor(env, LongBuffer.wrap(values), shape);
    }
}
