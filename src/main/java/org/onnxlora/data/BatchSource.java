package org.onnxlora.data;

/**
 * An endless, deterministic stream of training batches whose position can be saved
 * and restored: a resumed run must see exactly the batches an uninterrupted one would.
 */
public interface BatchSource {
    Batch next();

    /** The position of the batch {@link #next()} returns next. */
    DataPosition position();

    void seek(DataPosition p);

    long batchesPerEpoch();
}
