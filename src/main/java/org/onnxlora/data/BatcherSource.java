package org.onnxlora.data;


/** The trainer's view of a {@link Batcher}: an endless stream over epochs whose position is saved in checkpoints. */
public final class BatcherSource implements BatchSource {
    private final Batcher batcher;
    private DataPosition position = DataPosition.START;

    public BatcherSource(Batcher batcher) {
        this.batcher = batcher;
    }

    @Override
    public Batch next() {
        Batch b = batcher.batch(position);
        position = position.next(batcher.batchesPerEpoch());
        return b;
    }

    @Override
    public Position position() {
        return new Position(position.epoch(), position.batch());
    }

    @Override
    public void seek(Position p) {
        position = new DataPosition(Math.toIntExact(p.epoch()), Math.toIntExact(p.index()));
    }

    @Override
    public long batchesPerEpoch() {
        return batcher.batchesPerEpoch();
    }
}
