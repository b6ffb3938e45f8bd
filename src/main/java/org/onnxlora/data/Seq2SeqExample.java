package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * One tokenized pair: encoder input ids and label ids, both with the tokenizer's special
 * tokens ({@code <s> … </s>} for BART) and already cut to the configured lengths.
 * The arrays are shared, not copied: treat them as read-only.
 */
public record Seq2SeqExample(long[] sourceIds, long[] targetIds) {
    public Seq2SeqExample {
        if (sourceIds.length == 0 || targetIds.length == 0) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "an example needs at least one source and one target token");
        }
    }

    public int sourceLength() {
        return sourceIds.length;
    }

    public int targetLength() {
        return targetIds.length;
    }
}
