package org.onnxlora.data;

import java.util.Iterator;
import java.util.NoSuchElementException;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Training batches in order across epochs, starting anywhere. {@link #position()} is what a
 * checkpoint stores: handing it to {@link Batcher#stream} continues with the same batches.
 */
public final class BatchStream implements Iterator<Batch> {
    private final Batcher batcher;
    private final int epochs;
    private DataPosition position;

    BatchStream(Batcher batcher, DataPosition from, int epochs) {
        if (epochs < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "epochs must be non-negative, got " + epochs);
        }
        if (from.batch() >= batcher.batchesPerEpoch()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "data position batch " + from.batch()
                    + " is past the end of an epoch of " + batcher.batchesPerEpoch()
                    + " batches (did the data or batch size change since the checkpoint?)");
        }
        this.batcher = batcher;
        this.epochs = epochs;
        this.position = from;
    }

    /** The position of the batch {@link #next()} returns next. */
    public DataPosition position() {
        return position;
    }

    @Override
    public boolean hasNext() {
        return position.epoch() < epochs;
    }

    @Override
    public Batch next() {
        if (!hasNext()) {
            throw new NoSuchElementException("all " + epochs + " epochs served");
        }
        Batch b = batcher.batch(position);
        position = position.next(batcher.batchesPerEpoch());
        return b;
    }
}
