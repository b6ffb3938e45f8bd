package org.onnxlora.data;


/**
 * Real tokens against processed positions, source and target together: how much of the
 * compute a batching spends on padding.
 */
public record PaddingStats(long realTokens, long paddedTokens) {
    public static final PaddingStats EMPTY = new PaddingStats(0, 0);

    public static PaddingStats of(Batch b) {
        return new PaddingStats(b.realTokens(), (long) b.size() * (b.sourceLength() + b.targetLength()));
    }

    /** Real / padded, 1.0 meaning no padding at all. */
    public double efficiency() {
        return paddedTokens == 0 ? 1.0 : (double) realTokens / paddedTokens;
    }

    public PaddingStats plus(PaddingStats o) {
        return new PaddingStats(realTokens + o.realTokens, paddedTokens + o.paddedTokens);
    }
}
