package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * One padded batch for a seq2seq model, row-major {@code [batch, len]} int64 arrays.
 * Labels hold {@link Seq2SeqSignature#IGNORE_INDEX} where nothing is predicted (padding).
 */
public record Batch(int size, int sourceLength, int targetLength, long[] inputIds, long[] attentionMask,
        long[] decoderInputIds, long[] labels) {
    public Batch {
        if (inputIds.length != size * sourceLength || attentionMask.length != inputIds.length
                || decoderInputIds.length != size * targetLength || labels.length != decoderInputIds.length) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "batch arrays do not match [" + size + ","
                    + sourceLength + "] / [" + size + "," + targetLength + "]");
        }
    }

    /** Tokens that count in the loss (labels other than the ignore index). */
    public long targetTokens() {
        long n = 0;
        for (long l : labels) {
            if (l != Seq2SeqSignature.IGNORE_INDEX) {
                n++;
            }
        }
        return n;
    }

    /** Source plus target positions actually processed, padding excluded: the throughput unit. */
    public long realTokens() {
        long n = targetTokens();
        for (long m : attentionMask) {
            n += m;
        }
        return n;
    }
}
