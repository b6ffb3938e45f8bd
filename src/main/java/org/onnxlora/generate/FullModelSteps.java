package org.onnxlora.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * Steps a single encoder-decoder graph ({@code input_ids, attention_mask,
 * decoder_input_ids → logits}), as the training export, a patched or a merged model
 * provide. Without a cache every step re-runs the encoder and the decoder over the
 * whole prefix: step {@code t} costs O(t) decoder work, a sequence O(t²). It is the
 * fallback that works on any export.
 */
final class FullModelSteps implements StepModel {
    private final OrtSession session;
    private final int vocab;

    FullModelSteps(Path model, RuntimeOptions options) {
        this.session = Sessions.create(model, options);
        try {
            Ort.requireInputs(session, model.toString(), Set.of("input_ids", "attention_mask", "decoder_input_ids"));
            if (!session.getOutputNames().contains("logits")) {
                throw new org.onnxlora.OnnxLoraException(org.onnxlora.ErrorCode.UNSUPPORTED_MODEL,
                        model + " has no 'logits' output (outputs: " + session.getOutputNames() + ")");
            }
            vocab = Ort.fixedLastDim(session, "logits", model.toString());
        } catch (RuntimeException e) {
            Ort.close(session);
            throw e;
        }
    }

    @Override
    public boolean cached() {
        return false;
    }

    @Override
    public Decoding start(SourceBatch sources, int beams) {
        SourceBatch rows = sources.repeat(beams);
        OnnxTensor ids = Ort.longs(rows.ids(), rows.batch(), rows.length());
        try {
            OnnxTensor mask = Ort.longs(rows.mask(), rows.batch(), rows.length());
            return new Run(ids, mask, rows.batch());
        } catch (RuntimeException e) {
            ids.close();
            throw e;
        }
    }

    @Override
    public void close() {
        Ort.close(session);
    }

    private final class Run implements Decoding {
        private final OnnxTensor ids;
        private final OnnxTensor mask;
        private final int rows;
        private long[] prefix = new long[0]; // rows × len, row-major
        private int len;
        private FloatBuffer logitsStore;

        Run(OnnxTensor ids, OnnxTensor mask, int rows) {
            this.ids = ids;
            this.mask = mask;
            this.rows = rows;
        }

        @Override
        public Logits step(long[] newest, int[] parents) {
            long[] next = new long[rows * (len + 1)];
            for (int r = 0; r < rows; r++) {
                int from = parents == null ? r : parents[r];
                System.arraycopy(prefix, from * len, next, r * (len + 1), len);
                next[r * (len + 1) + len] = newest[r];
            }
            prefix = next;
            len++;
            FloatBuffer all = logitsBuffer(rows * len * vocab);
            // Pinned output: ORT writes the logits straight into our direct buffer. Copying them out
            // through getFloatBuffer() costs two full copies of [rows, len, vocab] per step, which
            // dominated beam search on batches.
            try (OnnxTensor dec = Ort.longs(prefix, rows, len);
                    OnnxTensor logits = Ort.floats(all, rows, len, vocab);
                    OrtSession.Result out = session.run(Map.of("input_ids", ids, "attention_mask", mask,
                            "decoder_input_ids", dec), Map.of("logits", logits))) {
                // Only the last position is new; the model recomputed the others.
                float[] last = new float[rows * vocab];
                for (int r = 0; r < rows; r++) {
                    all.get(((r + 1) * len - 1) * vocab, last, r * vocab, vocab);
                }
                return new Logits(last, rows, vocab);
            } catch (OrtException e) {
                throw Ort.runtime("running the model failed", e);
            }
        }

        /** A view of {@code n} floats over one direct buffer that grows geometrically and is reused. */
        private FloatBuffer logitsBuffer(int n) {
            if (logitsStore == null || logitsStore.capacity() < n) {
                logitsStore = Ort.directFloats(Math.max(n, logitsStore == null ? 0 : logitsStore.capacity() * 2));
            }
            return logitsStore.duplicate().position(0).limit(n).slice();
        }

        @Override
        public void close() {
            ids.close();
            mask.close();
        }
    }
}
