package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** The {@link BatchSource} of a {@link Batcher} ({@link Batcher#source}): endless over epochs, seekable. */
final class BatcherSource implements BatchSource {
    private final Batcher batcher;
    private DataPosition position;

    BatcherSource(Batcher batcher, DataPosition from) {
        this.batcher = batcher;
        seek(from);
    }

    @Override
    public Batch next() {
        Batch b = batcher.batch(position);
        position = position.next(batcher.batchesPerEpoch());
        return b;
    }

    @Override
    public DataPosition position() {
        return position;
    }

    @Override
    public void seek(DataPosition p) {
        if (p.batch() >= batcher.batchesPerEpoch()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "data position batch " + p.batch()
                    + " is past the end of an epoch of " + batcher.batchesPerEpoch()
                    + " batches (did the data or batch size change since the checkpoint?)");
        }
        position = p;
    }

    @Override
    public long batchesPerEpoch() {
        return batcher.batchesPerEpoch();
    }
}
