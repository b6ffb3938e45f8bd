package org.onnxlora.data;

import java.util.Arrays;
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

    /** By content: a record compares arrays by identity otherwise. */
    @Override
    public boolean equals(Object o) {
        return o instanceof Seq2SeqExample e && Arrays.equals(sourceIds, e.sourceIds) && Arrays.equals(targetIds, e.targetIds);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(sourceIds) + Arrays.hashCode(targetIds);
    }

    @Override
    public String toString() {
        return "Seq2SeqExample[source=" + Arrays.toString(sourceIds) + ", target=" + Arrays.toString(targetIds) + "]";
    }
}
