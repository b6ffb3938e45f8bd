package org.onnxlora.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Seq2SeqSignature.Feed;
import org.onnxlora.runtime.Sessions;

/**
 * Steps an Optimum export: {@code encoder_model.onnx} once per batch,
 * {@code decoder_model.onnx} for the first token, then
 * {@code decoder_with_past_model.onnx} on one token per step with the previous
 * step's {@code present.*} outputs fed back as {@code past_key_values.*}.
 *
 * <p>Cross-attention keys/values ({@code *.encoder.*}) come from the first decoder
 * step and never change: beams only ever reorder within their own example, and all
 * beams of one example see the same encoder states, so they need no reordering.
 * Self-attention keys/values are fed back without a copy when rows keep their
 * prefixes (greedy); when beams reorder them they are gathered on the batch axis
 * in Java: each step copies every decoder cache tensor out of ONNX Runtime, once
 * more into a direct buffer in the new row order, and back in — about
 * {@code 3 × 2 × layers × rows × heads × t × headDim} floats per step (t = prefix
 * length), ≈ 6 MB at step 64 for 8 examples × 4 beams on the tiny model.
 *
 * <p>A folder without {@code decoder_with_past_model.onnx} still runs the encoder
 * only once but re-runs {@code decoder_model.onnx} over the whole prefix every step.
 */
final class CachedSteps implements StepModel {
    static final String ENCODER = org.onnxlora.lora.ModelFiles.ENCODER;
    static final String DECODER = org.onnxlora.lora.ModelFiles.DECODER;
    static final String DECODER_WITH_PAST = org.onnxlora.lora.ModelFiles.DECODER_WITH_PAST;
    private final Seq2SeqSignature encoderSig;
    private final Seq2SeqSignature decoderSig;
    private final Seq2SeqSignature withPastSig; // null with withPast
    private final OrtSession encoder;
    private final OrtSession decoder;
    private final OrtSession withPast; // null: no cache, re-run decoder_model on the prefix
    private final List<String> pastInputs = new ArrayList<>();

    static boolean isOptimumFolder(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(ENCODER))
                && Files.isRegularFile(dir.resolve(DECODER));
    }

    /** The contract of one file of the folder; it must be of {@code kind}. */
    static Seq2SeqSignature signature(Path file, ModelFamily family, Seq2SeqSignature.Kind kind) {
        Seq2SeqSignature s = Seq2SeqSignature.of(ModelIO.load(file), file, family);
        if (s.kind() != kind) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + " is not an Optimum "
                    + kind.name().toLowerCase(java.util.Locale.ROOT) + " (it looks like " + s + ")");
        }
        return s;
    }

    CachedSteps(Path dir, ModelFamily family, RuntimeOptions options) {
        List<OrtSession> opened = new ArrayList<>();
        Path past = dir.resolve(DECODER_WITH_PAST);
        encoderSig = signature(dir.resolve(ENCODER), family, Seq2SeqSignature.Kind.ENCODER);
        decoderSig = signature(dir.resolve(DECODER), family, Seq2SeqSignature.Kind.DECODER);
        withPastSig = Files.isRegularFile(past) ? signature(past, family, Seq2SeqSignature.Kind.DECODER) : null;
        try {
            encoder = open(dir.resolve(ENCODER), options, opened);
            decoder = open(dir.resolve(DECODER), options, opened);
            withPast = withPastSig != null ? open(past, options, opened) : null;
            if (withPast != null) {
                Set<String> presents = new LinkedHashSet<>(decoder.getOutputNames());
                for (String in : withPastSig.names(Feed.PAST_KEY_VALUES)) {
                    {
                        String source = withPastSig.presentFor(in);
                        if (!presents.contains(source)) {
                            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, DECODER_WITH_PAST
                                    + " wants '" + in + "' but " + DECODER + " has no output '" + source + "'");
                        }
                        pastInputs.add(in);
                    }
                }
            }
        } catch (RuntimeException e) {
            opened.forEach(Ort::close);
            throw e;
        }
    }

    private static OrtSession open(Path file, RuntimeOptions options, List<OrtSession> opened) {
        OrtSession s = Sessions.create(file, options);
        opened.add(s);
        return s;
    }

    @Override
    public boolean cached() {
        return withPast != null;
    }

    @Override
    public Decoding start(SourceBatch sources, int beams) {
        FloatBuffer hidden;
        long[] shape;
        Map<String, OnnxTensor> encoderFeeds = new HashMap<>();
        try (OnnxTensor ids = Ort.longs(sources.ids(), sources.batch(), sources.length());
                OnnxTensor mask = Ort.longs(sources.mask(), sources.batch(), sources.length())) {
            for (Seq2SeqSignature.Input in : encoderSig.inputs()) {
                encoderFeeds.put(in.name(), switch (in.feed()) {
                    case INPUT_IDS -> ids;
                    case ATTENTION_MASK -> mask;
                    default -> throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name() + "' of "
                            + ENCODER + " (" + in.feed().key() + ") has no value in an encoder");
                });
            }
            try (OrtSession.Result out = encoder.run(encoderFeeds)) {
            OnnxTensor h = Ort.output(out, encoderSig.encoderOutput());
            shape = Ort.shape(h);
            hidden = Ort.read(h);
            }
        } catch (OrtException e) {
            throw Ort.runtime("running " + ENCODER + " failed", e);
        }
        // Beams of one example share its encoder states: repeat them rather than encode each beam.
        int rowSize = (int) (shape[1] * shape[2]);
        int rows = sources.batch() * beams;
        FloatBuffer expanded = Ort.directFloats(rows * rowSize);
        int[] index = new int[rows];
        for (int r = 0; r < rows; r++) {
            index[r] = r / beams;
        }
        Ort.gatherRows(hidden, rowSize, index, expanded);
        SourceBatch repeated = sources.repeat(beams);
        OnnxTensor hiddenTensor = Ort.floats(expanded, rows, shape[1], shape[2]);
        try {
            OnnxTensor maskTensor = Ort.longs(repeated.mask(), rows, repeated.length());
            return new Run(hiddenTensor, expanded, maskTensor, rows, beams);
        } catch (RuntimeException e) {
            hiddenTensor.close();
            throw e;
        }
    }

    @Override
    public void close() {
        Ort.close(encoder);
        Ort.close(decoder);
        Ort.close(withPast);
    }

    private final class Run implements Decoding {
        private final OnnxTensor hidden;
        @SuppressWarnings("unused") // keeps the direct buffer behind 'hidden' reachable
        private final FloatBuffer hiddenBuffer;
        private final OnnxTensor mask;
        private final int rows;
        private final int beams;
        private OrtSession.Result first; // holds the constant cross-attention keys/values
        private OrtSession.Result last; // holds the latest self-attention keys/values
        private final Map<String, OnnxTensor> gathered = new HashMap<>(); // reordered copies we own
        private long[] prefix = new long[0]; // only without a cache: rows × len
        private int len;

        Run(OnnxTensor hidden, FloatBuffer hiddenBuffer, OnnxTensor mask, int rows, int beams) {
            this.hidden = hidden;
            this.hiddenBuffer = hiddenBuffer;
            this.mask = mask;
            this.rows = rows;
            this.beams = beams;
        }

        @Override
        public Logits step(long[] newest, int[] parents) {
            checkParents(parents);
            Map<String, OnnxTensor> feeds = new HashMap<>();
            OrtSession session;
            Seq2SeqSignature sig;
            long[] tokens;
            int tokenLen;
            if (withPast == null || first == null) {
                appendToPrefix(newest, parents);
                tokens = prefix;
                tokenLen = len;
                session = decoder;
                sig = decoderSig;
            } else {
                Map<String, OnnxTensor> past = pastFor(parents);
                feeds.putAll(past);
                tokens = newest;
                tokenLen = 1;
                session = withPast;
                sig = withPastSig;
                len++;
            }
            OrtSession.Result out;
            long[] decoderMask = new long[rows * len];
            java.util.Arrays.fill(decoderMask, 1L);
            try (OnnxTensor ids = Ort.longs(tokens, rows, tokenLen); OnnxTensor decMask = Ort.longs(decoderMask, rows, len)) {
                for (Seq2SeqSignature.Input in : sig.inputs()) {
                    switch (in.feed()) {
                        case DECODER_INPUT_IDS -> feeds.put(in.name(), ids);
                        case ATTENTION_MASK -> feeds.put(in.name(), mask);
                        case ENCODER_HIDDEN_STATES -> feeds.put(in.name(), hidden);
                        case DECODER_ATTENTION_MASK -> feeds.put(in.name(), decMask);
                        case PAST_KEY_VALUES -> {
                            if (!feeds.containsKey(in.name())) {
                                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name()
                                        + "' of " + sig.what() + " has no present.* output to come from");
                            }
                        }
                        default -> throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name()
                                + "' of " + sig.what() + " (" + in.feed().key() + ") has no value in a decoder");
                    }
                }
                out = session.run(feeds);
            } catch (OrtException e) {
                throw Ort.runtime("running the decoder failed", e);
            }
            retire(out);
            OnnxTensor logits = Ort.output(out, sig.logitsOutput());
            long[] shape = Ort.shape(logits);
            int vocab = (int) shape[2];
            int positions = (int) shape[1];
            FloatBuffer all = Ort.read(logits);
            float[] values = new float[rows * vocab];
            for (int r = 0; r < rows; r++) {
                all.get(((r + 1) * positions - 1) * vocab, values, r * vocab, vocab);
            }
            return new Logits(values, rows, vocab);
        }

        /** Past keys/values for this step: cross-attention from the first step, self-attention reordered. */
        private Map<String, OnnxTensor> pastFor(int[] parents) {
            Map<String, OnnxTensor> past = new HashMap<>();
            Map<String, OnnxTensor> fresh = new HashMap<>();
            try {
                for (String in : pastInputs) {
                    String source = withPastSig.presentFor(in);
                    if (in.contains(".encoder.")) {
                        past.put(in, Ort.output(first, source));
                    } else {
                        OnnxTensor present = Ort.output(last, source);
                        if (parents == null || isIdentity(parents)) {
                            past.put(in, present);
                        } else {
                            OnnxTensor t = reorder(present, parents);
                            fresh.put(in, t);
                            past.put(in, t);
                        }
                    }
                }
            } catch (RuntimeException e) {
                fresh.values().forEach(OnnxTensor::close);
                throw e;
            }
            // The previous step's reordered copies have been read for the last time.
            gathered.values().forEach(OnnxTensor::close);
            gathered.clear();
            gathered.putAll(fresh);
            return past;
        }

        private OnnxTensor reorder(OnnxTensor present, int[] parents) {
            long[] shape = Ort.shape(present);
            FloatBuffer src = Ort.read(present);
            int rowSize = src.remaining() / rows;
            FloatBuffer dst = Ort.directFloats(rows * rowSize);
            Ort.gatherRows(src, rowSize, parents, dst);
            return Ort.floats(dst, shape);
        }

        /** Keeps the first result (cross-attention cache) and the newest; closes the one in between. */
        private void retire(OrtSession.Result out) {
            if (first == null) {
                first = out;
            } else if (last != first && last != null) {
                last.close();
            }
            last = out;
        }

        private void appendToPrefix(long[] newest, int[] parents) {
            long[] next = new long[rows * (len + 1)];
            for (int r = 0; r < rows; r++) {
                int from = parents == null ? r : parents[r];
                System.arraycopy(prefix, from * len, next, r * (len + 1), len);
                next[r * (len + 1) + len] = newest[r];
            }
            prefix = next;
            len++;
        }

        private void checkParents(int[] parents) {
            if (parents == null) {
                return;
            }
            for (int r = 0; r < rows; r++) {
                if (parents[r] / beams != r / beams) {
                    throw new OnnxLoraException(ErrorCode.INTERNAL, "row " + r + " would continue row "
                            + parents[r] + " of another example");
                }
            }
        }

        @Override
        public void close() {
            gathered.values().forEach(OnnxTensor::close);
            gathered.clear();
            if (last != null && last != first) {
                last.close();
            }
            if (first != null) {
                first.close();
            }
            hidden.close();
            mask.close();
        }
    }

    static boolean isIdentity(int[] parents) {
        for (int r = 0; r < parents.length; r++) {
            if (parents[r] != r) {
                return false;
            }
        }
        return true;
    }
}
