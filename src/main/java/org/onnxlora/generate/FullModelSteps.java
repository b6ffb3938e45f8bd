package org.onnxlora.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Seq2SeqSignature.Feed;
import org.onnxlora.runtime.Sessions;

/**
 * Steps a single encoder-decoder graph (source ids and mask, decoder ids [and mask] → logits,
 * as its {@link Seq2SeqSignature} names them), as the training export, a patched or a merged
 * model provide. Without a cache every step re-runs the encoder and the decoder over the
 * whole prefix: step {@code t} costs O(t) decoder work, a sequence O(t²). It is the fallback
 * that works on any export.
 *
 * <p>A static-shape export gets what it declares: sources and the decoder prefix are padded to
 * the fixed lengths (causal attention keeps the padding out of earlier positions, whose logits
 * are the ones read), and rows are run in chunks of the fixed batch size, the last one padded.
 */
final class FullModelSteps implements StepModel {
    private final OrtSession session;
    private final Seq2SeqSignature signature;
    private final int vocab;
    /** A float16/bfloat16 export's logits cannot land in a pinned float buffer: ORT converts them on read. */
    private final boolean halfLogits;

    FullModelSteps(Path model, Seq2SeqSignature signature, RuntimeOptions options) {
        this.signature = signature;
        this.session = Sessions.create(model, options);
        try {
            vocab = Ort.fixedLastDim(session, signature.logitsOutput(), model.toString());
            halfLogits = ((ai.onnxruntime.TensorInfo) session.getOutputInfo().get(signature.logitsOutput()).getInfo())
                    .type != ai.onnxruntime.OnnxJavaType.FLOAT;
        } catch (ai.onnxruntime.OrtException e) {
            Ort.close(session);
            throw Ort.runtime("cannot read the model's outputs", e);
        } catch (RuntimeException e) {
            Ort.close(session);
            throw e;
        }
    }

    @Override
    public boolean cached() {
        return false;
    }

    /** Longest decoder sequence (start token included) a fixed target length allows; 0 = no limit. */
    long maxDecoderLength() {
        return signature.staticShape().targetLength();
    }

    @Override
    public Decoding start(SourceBatch sources, int beams) {
        SourceBatch rows = sources.repeat(beams);
        long fixedSource = signature.staticShape().sourceLength();
        if (fixedSource > 0) {
            if (rows.length() > fixedSource) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.MAX_SOURCE_LENGTH, "sources of " + rows.length() + " tokens do not fit"
                        + " " + signature.what() + ", whose source length is fixed to " + fixedSource
                        + "; cut them to " + fixedSource + " tokens");
            }
            rows = rows.padTo((int) fixedSource, signature.padTokenId());
        }
        return new Run(rows);
    }

    @Override
    public void close() {
        Ort.close(session);
    }

    private final class Run implements Decoding {
        private final SourceBatch sources;
        private final int rows;
        private long[] prefix = new long[0]; // rows × len, row-major
        private int len;
        private FloatBuffer logitsStore;

        Run(SourceBatch sources) {
            this.sources = sources;
            this.rows = sources.batch();
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
            long fixedTarget = signature.staticShape().targetLength();
            if (fixedTarget > 0 && len > fixedTarget) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, signature.what() + " fixes the decoder length to "
                        + fixedTarget + "; generate at most " + (fixedTarget - 1) + " new tokens");
            }
            int chunk = signature.staticShape().batch() > 0 ? (int) signature.staticShape().batch() : rows;
            float[] last = new float[rows * vocab];
            for (int start = 0; start < rows; start += chunk) {
                runChunk(start, Math.min(chunk, rows - start), chunk, last);
            }
            return new Logits(last, rows, vocab);
        }

        /** Runs rows {@code [start, start+real)} padded to {@code chunk} rows; writes their last logits. */
        private void runChunk(int start, int real, int chunk, float[] last) {
            int srcLen = sources.length();
            int tgtLen = signature.staticShape().targetLength() > 0 ? (int) signature.staticShape().targetLength() : len;
            long[] ids = new long[chunk * srcLen];
            long[] mask = new long[chunk * srcLen];
            long[] dec = new long[chunk * tgtLen];
            long[] decMask = new long[chunk * tgtLen];
            Arrays.fill(ids, signature.padTokenId());
            Arrays.fill(dec, signature.padTokenId());
            for (int r = 0; r < chunk; r++) {
                if (r < real) {
                    System.arraycopy(sources.ids(), (start + r) * srcLen, ids, r * srcLen, srcLen);
                    System.arraycopy(sources.mask(), (start + r) * srcLen, mask, r * srcLen, srcLen);
                    System.arraycopy(prefix, (start + r) * len, dec, r * tgtLen, len);
                    Arrays.fill(decMask, r * tgtLen, r * tgtLen + len, 1L);
                } else {
                    // filler rows: one attended position each, so no attention row is fully masked
                    mask[r * srcLen] = 1;
                    decMask[r * tgtLen] = 1;
                }
            }
            FloatBuffer all = logitsBuffer(chunk * tgtLen * vocab);
            Map<String, OnnxTensor> feeds = new HashMap<>();
            List<OnnxTensor> owned = new ArrayList<>();
            // Pinned output: ORT writes the logits straight into our direct buffer. Copying them out
            // through getFloatBuffer() costs two full copies of [rows, len, vocab] per step, which
            // dominated beam search on batches.
            try (OnnxTensor logits = Ort.floats(all, chunk, tgtLen, vocab)) {
                for (Seq2SeqSignature.Input in : signature.inputs()) {
                    long[] values = switch (in.feed()) {
                        case INPUT_IDS -> ids;
                        case ATTENTION_MASK -> mask;
                        case DECODER_INPUT_IDS -> dec;
                        case DECODER_ATTENTION_MASK -> decMask;
                        default -> throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name()
                                + "' of " + signature.what() + " (" + in.feed().key() + ") has no value when"
                                + " generating with one full model");
                    };
                    boolean source = in.feed() == Feed.INPUT_IDS || in.feed() == Feed.ATTENTION_MASK;
                    OnnxTensor t = Ort.longs(values, chunk, source ? srcLen : tgtLen);
                    owned.add(t);
                    feeds.put(in.name(), t);
                }
                if (halfLogits) {
                    try (OrtSession.Result out = session.run(feeds, java.util.Set.of(signature.logitsOutput()))) {
                        all.put(((OnnxTensor) out.get(0)).getFloatBuffer()).rewind();
                    }
                }
                try (OrtSession.Result out = halfLogits ? null
                        : session.run(feeds, Map.of(signature.logitsOutput(), logits))) {
                    // Only the last real position is new; the model recomputed the others.
                    for (int r = 0; r < real; r++) {
                        all.get((r * tgtLen + len - 1) * vocab, last, (start + r) * vocab, vocab);
                    }
                }
            } catch (OrtException e) {
                throw Ort.runtime("running the model failed", e);
            } finally {
                owned.forEach(OnnxTensor::close);
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
            // every tensor of a step is closed with the step
        }
    }
}
