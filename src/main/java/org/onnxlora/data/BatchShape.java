package org.onnxlora.data;


/** The dimensions of a padded batch: {@code [size, sourceLength]} inputs, {@code [size, targetLength]} labels. */
public record BatchShape(int size, int sourceLength, int targetLength) implements Comparable<BatchShape> {
    public static BatchShape of(Batch b) {
        return new BatchShape(b.size(), b.sourceLength(), b.targetLength());
    }

    /** Positions processed per batch of this shape, source and target together. */
    public long positions() {
        return (long) size * (sourceLength + targetLength);
    }

    @Override
    public int compareTo(BatchShape o) {
        int c = Integer.compare(size, o.size);
        if (c == 0) {
            c = Integer.compare(sourceLength, o.sourceLength);
        }
        return c != 0 ? c : Integer.compare(targetLength, o.targetLength);
    }
}
