package org.onnxlora.generate;

import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Source token ids padded on the right to the longest example, row-major, with the
 * attention mask that hides the padding from the encoder and from cross-attention.
 */
record SourceBatch(long[] ids, long[] mask, int batch, int length) {

    static SourceBatch of(List<long[]> sources, long padTokenId) {
        if (sources.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot generate for an empty batch");
        }
        int len = 0;
        for (int i = 0; i < sources.size(); i++) {
            long[] s = sources.get(i);
            if (s == null || s.length == 0) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "source " + i + " of the batch has no tokens");
            }
            len = Math.max(len, s.length);
        }
        int b = sources.size();
        long[] ids = new long[b * len];
        long[] mask = new long[b * len];
        java.util.Arrays.fill(ids, padTokenId);
        for (int i = 0; i < b; i++) {
            long[] s = sources.get(i);
            System.arraycopy(s, 0, ids, i * len, s.length);
            java.util.Arrays.fill(mask, i * len, i * len + s.length, 1L);
        }
        return new SourceBatch(ids, mask, b, len);
    }

    /** Each row repeated {@code times} times in place (example-major), as beam search lays out its rows. */
    SourceBatch repeat(int times) {
        if (times == 1) {
            return this;
        }
        return new SourceBatch(Ort.repeatRows(ids, length, times), Ort.repeatRows(mask, length, times),
                batch * times, length);
    }

    /** Rows padded on the right to {@code length} positions (mask 0 there), for a fixed-length export. */
    SourceBatch padTo(int length, long padTokenId) {
        if (length == this.length) {
            return this;
        }
        long[] ids2 = new long[batch * length];
        long[] mask2 = new long[batch * length];
        java.util.Arrays.fill(ids2, padTokenId);
        for (int r = 0; r < batch; r++) {
            System.arraycopy(ids, r * this.length, ids2, r * length, this.length);
            System.arraycopy(mask, r * this.length, mask2, r * length, this.length);
        }
        return new SourceBatch(ids2, mask2, batch, length);
    }
}
