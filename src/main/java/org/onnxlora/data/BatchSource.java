package org.onnxlora.data;

/**
 * An endless, deterministic stream of training batches whose position can be saved
 * and restored: a resumed run must see exactly the batches an uninterrupted one would.
 */
public interface BatchSource {
    /** Where the stream is: the next batch to be returned is batch {@code index} of epoch {@code epoch}. */
    record Position(long epoch, long index) {}

    Batch next();

    Position position();

    void seek(Position p);

    long batchesPerEpoch();
}
