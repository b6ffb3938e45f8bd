package org.onnxlora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Seq2SeqSignature.StaticShape;

/**
 * Fits batches to the sizes a static-shape export fixes: sequences are padded to the fixed
 * lengths (pad ids, mask 0, ignored labels) and rows are cut into micro-batches of the fixed
 * batch size, the last one filled with rows that count for nothing. Exact, because the graphs
 * sum token losses: the pieces' sums add up to the whole batch's, padding contributes zero.
 *
 * <p>A filler row holds one attended source token and the decoder start token (attention over
 * a row with every position masked is undefined in some exports) and only ignored labels.
 */
public final class StaticBatches {
    private StaticBatches() {}

    /** {@code batch} itself when the shape fixes nothing it violates; otherwise its fitted pieces. */
    public static List<Batch> fit(Batch batch, StaticShape shape, long padTokenId, long decoderStartTokenId) {
        if (shape.isFree()) {
            return List.of(batch);
        }
        int src = length(batch.sourceLength(), shape.sourceLength(), "source");
        int tgt = length(batch.targetLength(), shape.targetLength(), "target");
        int rows = shape.batch() > 0 ? Math.toIntExact(shape.batch()) : batch.size();
        if (src == batch.sourceLength() && tgt == batch.targetLength() && rows == batch.size()) {
            return List.of(batch);
        }
        List<Batch> out = new ArrayList<>();
        for (int start = 0; start < batch.size(); start += rows) {
            int real = Math.min(rows, batch.size() - start);
            long[] ids = new long[rows * src];
            long[] mask = new long[rows * src];
            long[] dec = new long[rows * tgt];
            long[] labels = new long[rows * tgt];
            Arrays.fill(ids, padTokenId);
            Arrays.fill(dec, padTokenId);
            Arrays.fill(labels, Seq2SeqSignature.IGNORE_INDEX);
            for (int r = 0; r < rows; r++) {
                if (r < real) {
                    int from = start + r;
                    System.arraycopy(batch.inputIds(), from * batch.sourceLength(), ids, r * src, batch.sourceLength());
                    System.arraycopy(batch.attentionMask(), from * batch.sourceLength(), mask, r * src,
                            batch.sourceLength());
                    System.arraycopy(batch.decoderInputIds(), from * batch.targetLength(), dec, r * tgt,
                            batch.targetLength());
                    System.arraycopy(batch.labels(), from * batch.targetLength(), labels, r * tgt, batch.targetLength());
                } else {
                    mask[r * src] = 1;
                    dec[r * tgt] = decoderStartTokenId;
                }
            }
            out.add(new Batch(rows, src, tgt, ids, mask, dec, labels));
        }
        return out;
    }

    private static int length(int have, long fixed, String what) {
        if (fixed == 0) {
            return have;
        }
        if (have > fixed) {
            throw new OnnxLoraException(ErrorCode.BAD_DATA, "a batch has " + what + "s of " + have
                    + " tokens but the model fixes the " + what + " length to " + fixed);
        }
        return Math.toIntExact(fixed);
    }
}
