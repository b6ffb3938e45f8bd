package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.Seq2SeqSignature.StaticShape;

class StaticBatchesTest {
    /** 5 rows, sources of 3, targets of 2 (the last row's second label ignored). */
    static Batch batch() {
        int n = 5;
        long[] ids = new long[n * 3];
        long[] mask = new long[n * 3];
        long[] dec = new long[n * 2];
        long[] labels = new long[n * 2];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 10 + i;
            mask[i] = 1;
        }
        for (int i = 0; i < labels.length; i++) {
            dec[i] = 100 + i;
            labels[i] = 200 + i;
        }
        labels[9] = -100;
        return new Batch(n, 3, 2, ids, mask, dec, labels);
    }

    @Test
    void freeShapesLeaveTheBatchAlone() {
        Batch b = batch();
        assertSame(b, StaticBatches.fit(b, StaticShape.FREE, 1, 2).get(0));
        assertSame(b, StaticBatches.fit(b, new StaticShape(5, 3, 2), 1, 2).get(0));
    }

    @Test
    void rowsAreSplitAndPaddedWithRowsThatCountForNothing() {
        Batch b = batch();
        List<Batch> pieces = StaticBatches.fit(b, new StaticShape(2, 4, 3), 1, 2);
        assertEquals(3, pieces.size());
        long tokens = pieces.stream().mapToLong(Batch::targetTokens).sum();
        assertEquals(b.targetTokens(), tokens);
        Batch first = pieces.get(0);
        assertArrayEquals(new long[] {10, 11, 12, 1, 13, 14, 15, 1}, first.inputIds());
        assertArrayEquals(new long[] {1, 1, 1, 0, 1, 1, 1, 0}, first.attentionMask());
        assertArrayEquals(new long[] {200, 201, -100, 202, 203, -100}, first.labels());
        Batch last = pieces.get(2);
        assertArrayEquals(new long[] {1, 0, 0, 0}, java.util.Arrays.copyOfRange(last.attentionMask(), 4, 8),
                "a filler row attends to one position");
        assertArrayEquals(new long[] {2, 1, 1}, java.util.Arrays.copyOfRange(last.decoderInputIds(), 3, 6));
        assertArrayEquals(new long[] {-100, -100, -100}, java.util.Arrays.copyOfRange(last.labels(), 3, 6));
        assertArrayEquals(new long[] {1, 0, 0, 1, 0, 0}, BatchFeeds.decoderMask(last));
    }

    @Test
    void aBatchLongerThanTheFixedLengthIsRefused() {
        assertThrows(OnnxLoraException.class, () -> StaticBatches.fit(batch(), new StaticShape(0, 2, 0), 1, 2));
    }
}
