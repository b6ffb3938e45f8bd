package org.onnxlora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * Deals the rows of one batch to {@code parts} workers so their target-token counts balance: rows
 * in decreasing token order, each to the worker with the fewest tokens so far (lowest index on a
 * tie). It depends on the batch alone, so a resumed run splits every step as before. Each share
 * keeps the batch's padded shape and its rows' original order; a worker may get no rows.
 */
public final class BatchSplit {
    private BatchSplit() {}

    /** The shares, one per worker; an empty share is {@code null}. */
    public static List<Batch> deal(Batch b, int parts) {
        int[] tokens = new int[b.size()];
        for (int r = 0; r < b.size(); r++) {
            for (int t = 0; t < b.targetLength(); t++) {
                if (b.labels()[r * b.targetLength() + t] != Seq2SeqSignature.IGNORE_INDEX) {
                    tokens[r]++;
                }
            }
        }
        Integer[] order = new Integer[b.size()];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.<Integer>comparingInt(r -> -tokens[r]).thenComparingInt(r -> r));
        long[] load = new long[parts];
        List<List<Integer>> rows = new ArrayList<>();
        for (int p = 0; p < parts; p++) {
            rows.add(new ArrayList<>());
        }
        for (int r : order) {
            int best = 0;
            for (int p = 1; p < parts; p++) {
                if (load[p] < load[best]) {
                    best = p;
                }
            }
            load[best] += tokens[r];
            rows.get(best).add(r);
        }
        List<Batch> out = new ArrayList<>(parts);
        for (List<Integer> share : rows) {
            share.sort(null);
            out.add(share.isEmpty() ? null : select(b, share));
        }
        return out;
    }

    private static Batch select(Batch b, List<Integer> rows) {
        int n = rows.size();
        int s = b.sourceLength();
        int t = b.targetLength();
        long[] ids = new long[n * s];
        long[] mask = new long[n * s];
        long[] dec = new long[n * t];
        long[] labels = new long[n * t];
        for (int i = 0; i < n; i++) {
            int r = rows.get(i);
            System.arraycopy(b.inputIds(), r * s, ids, i * s, s);
            System.arraycopy(b.attentionMask(), r * s, mask, i * s, s);
            System.arraycopy(b.decoderInputIds(), r * t, dec, i * t, t);
            System.arraycopy(b.labels(), r * t, labels, i * t, t);
        }
        return new Batch(n, s, t, ids, mask, dec, labels);
    }
}
