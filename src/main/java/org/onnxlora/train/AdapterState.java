package org.onnxlora.train;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import java.util.ArrayList;
import java.util.List;

/**
 * The adapters and their AdamW moments in flat buffers, two of each: the optimizer reads the
 * current set and writes the next, which becomes current only when the step is kept, so a skipped
 * (fp16 overflow) or failed step leaves the adapters untouched without a copy.
 */
final class AdapterState implements AutoCloseable {
    private final List<FlatAdapterBuffer> all = new ArrayList<>();
    private final FlatAdapterBuffer[] params = new FlatAdapterBuffer[2];
    private final FlatAdapterBuffer[] expAvg = new FlatAdapterBuffer[2];
    private final FlatAdapterBuffer[] expAvgSq = new FlatAdapterBuffer[2];
    private int current;

    AdapterState(OrtEnvironment env, AdapterLayout layout) throws OrtException {
        try {
            for (FlatAdapterBuffer[] pair : List.of(params, expAvg, expAvgSq)) {
                for (int i = 0; i < 2; i++) {
                    pair[i] = new FlatAdapterBuffer(env, layout);
                    all.add(pair[i]);
                }
            }
        } catch (OrtException | RuntimeException e) {
            close();
            throw e;
        }
    }

    FlatAdapterBuffer params() {
        return params[current];
    }

    FlatAdapterBuffer expAvg() {
        return expAvg[current];
    }

    FlatAdapterBuffer expAvgSq() {
        return expAvgSq[current];
    }

    FlatAdapterBuffer nextParams() {
        return params[1 - current];
    }

    FlatAdapterBuffer nextExpAvg() {
        return expAvg[1 - current];
    }

    FlatAdapterBuffer nextExpAvgSq() {
        return expAvgSq[1 - current];
    }

    /** Which of the two sets is current (0 or 1): what a device-resident copy follows ({@link DeviceFusedStep}). */
    int currentSet() {
        return current;
    }

    /** Keeps the step: what the optimizer wrote into the next set becomes current. */
    void advance() {
        current = 1 - current;
    }

    @Override
    public void close() {
        all.forEach(FlatAdapterBuffer::close);
        all.clear();
    }
}
