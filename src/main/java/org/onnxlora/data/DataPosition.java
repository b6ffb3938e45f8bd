package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Where a training run is in its data: the next batch to take is batch {@code batch} of epoch
 * {@code epoch} (both 0-based). The one position type: a {@link BatchSource} reports and seeks
 * it, and checkpoints store it; since an epoch's batch order depends only on the seed and the
 * epoch, resuming here replays exactly what an uninterrupted run sees.
 */
public record DataPosition(long epoch, long batch) {
    public static final DataPosition START = new DataPosition(0, 0);

    public DataPosition {
        if (epoch < 0 || batch < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "data position must be non-negative, got epoch "
                    + epoch + " batch " + batch);
        }
    }

    /** Where a stream stands after {@code consumed} batches from the start, in epochs of {@code batchesPerEpoch}. */
    public static DataPosition after(long consumed, long batchesPerEpoch) {
        return new DataPosition(consumed / batchesPerEpoch, consumed % batchesPerEpoch);
    }

    /** The position after this one, in epochs of {@code batchesPerEpoch} batches. */
    public DataPosition next(long batchesPerEpoch) {
        return batch + 1 < batchesPerEpoch ? new DataPosition(epoch, batch + 1) : new DataPosition(epoch + 1, 0);
    }
}
