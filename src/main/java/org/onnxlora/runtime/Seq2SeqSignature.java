package org.onnxlora.runtime;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The seq2seq model contract: which inputs one graph takes and how each is fed, where its
 * logits are, and the ids and sizes that feeding depends on. Every command that runs a model
 * derives one from the model family ({@code graphs/*.json}, which maps the export's input names
 * to {@link Feed}s) and the graph's own inputs, outputs and declared shapes, so no command
 * spells an input name.
 *
 * <p>An input the contract cannot feed is refused when the signature is built, before any work,
 * naming the input and what onnx-lora knows how to feed. Pad and decoder-start ids are the
 * family's defaults, replaced by a Hugging Face {@code config.json} beside the model when there
 * is one, and by an explicit override ({@link #withDecoderStartTokenId}).
 */
public final class Seq2SeqSignature {
    /** Label value that contributes nothing to the loss (PyTorch's and Hugging Face's -100): the one definition. */
    public static final long IGNORE_INDEX = -100;

    /** What onnx-lora knows how to feed. */
    public enum Feed {
        INPUT_IDS("input_ids", "source token ids"),
        ATTENTION_MASK("attention_mask", "1 on real source tokens"),
        DECODER_INPUT_IDS("decoder_input_ids", "labels shifted right after the decoder start token"),
        DECODER_ATTENTION_MASK("decoder_attention_mask", "1 on real target tokens"),
        ENCODER_HIDDEN_STATES("encoder_hidden_states", "the encoder's output, in an Optimum decoder"),
        PAST_KEY_VALUES("past_key_values.*", "the previous step's present.* outputs");

        private final String key;
        private final String meaning;

        Feed(String key, String meaning) {
            this.key = key;
            this.meaning = meaning;
        }

        /** The name the family file uses for this feed. */
        public String key() {
            return key;
        }

        static Optional<Feed> ofKey(String key) {
            return Arrays.stream(values()).filter(f -> f.key.equals(key)).findFirst();
        }

        static String known() {
            StringBuilder b = new StringBuilder();
            for (Feed f : values()) {
                b.append(b.length() == 0 ? "" : ", ").append(f.key).append(" (").append(f.meaning).append(')');
            }
            return b.toString();
        }
    }

    /** Which graph of a seq2seq export this is. */
    public enum Kind {
        /** Encoder and decoder in one graph (ids in, logits out): what onnx-lora trains. */
        FULL,
        /** Optimum's {@code encoder_model.onnx}. */
        ENCODER,
        /** Optimum's {@code decoder_model.onnx} / {@code decoder_with_past_model.onnx}. */
        DECODER
    }

    /**
     * One graph input and its feed.
     *
     * @param dims per axis a fixed size, or -1 when symbolic
     */
    public record Input(String name, Feed feed, int elemType, long[] dims) {
        /** Fixed size of {@code axis}, or 0 when the export leaves it free. */
        public long fixed(int axis) {
            return axis < dims.length && dims[axis] > 0 ? dims[axis] : 0;
        }
    }

    /**
     * Sizes an export fixes (no {@code dynamic_axes}); 0 where free.
     *
     * @param batch rows of every batch
     * @param sourceLength encoder positions
     * @param targetLength decoder positions
     */
    public record StaticShape(long batch, long sourceLength, long targetLength) {
        public static final StaticShape FREE = new StaticShape(0, 0, 0);

        public boolean isFree() {
            return batch == 0 && sourceLength == 0 && targetLength == 0;
        }
    }

    private final String what;
    private final Kind kind;
    private final List<Input> inputs;
    private final String logitsOutput;
    private final String encoderOutput;
    private final ModelFamily family;
    private final long padTokenId;
    private final long decoderStartTokenId;
    private final long maxPositions;
    private final long vocab;
    private final StaticShape staticShape;

    private Seq2SeqSignature(String what, Kind kind, List<Input> inputs, String logitsOutput, String encoderOutput,
            ModelFamily family, long padTokenId, long decoderStartTokenId, long maxPositions, long vocab,
            StaticShape staticShape) {
        this.what = what;
        this.kind = kind;
        this.inputs = List.copyOf(inputs);
        this.logitsOutput = logitsOutput;
        this.encoderOutput = encoderOutput;
        this.family = family;
        this.padTokenId = padTokenId;
        this.decoderStartTokenId = decoderStartTokenId;
        this.maxPositions = maxPositions;
        this.vocab = vocab;
        this.staticShape = staticShape;
    }

    /** The contract of {@code model}, read from {@code file} (its name and folder: Optimum role, config.json). */
    public static Seq2SeqSignature of(ModelProto model, Path file, ModelFamily family) {
        return of(model, file, family, Set.of(), null);
    }

    /**
     * @param fedElsewhere graph inputs the caller feeds itself (a training graph's adapters and labels)
     * @param logits the logits output; null for the family's
     */
    public static Seq2SeqSignature of(ModelProto model, Path file, ModelFamily family, Set<String> fedElsewhere,
            String logits) {
        GraphProto graph = model.getGraph();
        GraphIndex index = new GraphIndex(graph);
        String what = file == null ? "the model" : file.toString();
        String logitsName = logits != null ? logits : family.logitsOutput();
        List<InputSpec> specs = InputSpec.of(graph);
        boolean decoderFile = specs.stream().anyMatch(s -> Feed.ENCODER_HIDDEN_STATES.key()
                .equals(family.inputs().get(s.name())));
        List<Input> inputs = new ArrayList<>();
        for (InputSpec s : specs) {
            if (fedElsewhere.contains(s.name())) {
                continue;
            }
            Feed feed = feedOf(s.name(), decoderFile, family)
                    .orElseThrow(() -> new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + s.name() + "' of "
                            + what + " is not one onnx-lora can feed; it feeds " + Feed.known()));
            inputs.add(new Input(s.name(), feed, s.elemType(), s.dims()));
        }
        Kind kind;
        if (decoderFile) {
            kind = Kind.DECODER;
        } else if (!index.isGraphOutput(logitsName) && index.isGraphOutput(family.encoderOutput())
                && inputs.stream().noneMatch(i -> i.feed() == Feed.DECODER_INPUT_IDS)) {
            kind = Kind.ENCODER;
        } else {
            kind = Kind.FULL;
        }
        if (kind != Kind.ENCODER && !index.isGraphOutput(logitsName)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, what + " has no logits output '" + logitsName
                    + "' (outputs: " + index.outputs().keySet() + "); export the seq2seq model with its logits,"
                    + " or name the logits output");
        }
        for (Feed required : kind == Kind.ENCODER ? List.of(Feed.INPUT_IDS)
                : kind == Kind.DECODER ? List.of(Feed.DECODER_INPUT_IDS, Feed.ENCODER_HIDDEN_STATES)
                : List.of(Feed.INPUT_IDS, Feed.DECODER_INPUT_IDS)) {
            if (inputs.stream().noneMatch(i -> i.feed() == required)) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, what + " takes no " + required.key()
                        + " input (inputs: " + specs.stream().map(InputSpec::name).toList() + ")");
            }
        }
        for (Input i : inputs) {
            boolean ids = i.feed() != Feed.ENCODER_HIDDEN_STATES && i.feed() != Feed.PAST_KEY_VALUES;
            if (ids && i.elemType() != DataType.INT64_VALUE && i.elemType() != DataType.INT32_VALUE) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + i.name() + "' of " + what
                        + " has element type " + org.onnxlora.io.Tensors.typeName(i.elemType())
                        + "; onnx-lora feeds token ids and masks as int64 or int32");
            }
        }
        Optional<HfModelConfig> hf = HfModelConfig.besides(file);
        long pad = hf.flatMap(c -> box(c.padTokenId())).orElse(family.padTokenId());
        long start = hf.flatMap(c -> box(c.decoderStartTokenId())).orElse(family.decoderStartTokenId());
        long tablePositions = positionRows(graph, index, family);
        long positions = hf.flatMap(c -> box(c.maxPositionEmbeddings())).orElse(tablePositions);
        if (tablePositions > 0 && positions > tablePositions) {
            positions = tablePositions; // the table is what the graph can actually index
        }
        long vocab = InputSpec.modelVocab(graph);
        return new Seq2SeqSignature(what, kind, inputs, kind == Kind.ENCODER ? null : logitsName,
                family.encoderOutput(), family, pad, start, positions, vocab, staticShape(inputs, what));
    }

    private static Optional<Long> box(java.util.OptionalLong v) {
        return v.isPresent() ? Optional.of(v.getAsLong()) : Optional.empty();
    }

    private static Optional<Feed> feedOf(String name, boolean decoderFile, ModelFamily family) {
        if (name.startsWith(family.pastInputPrefix())) {
            return Optional.of(Feed.PAST_KEY_VALUES);
        }
        String key = decoderFile && family.decoderFileInputs().containsKey(name) ? family.decoderFileInputs().get(name)
                : family.inputs().get(name);
        return key == null ? Optional.empty() : Feed.ofKey(key);
    }

    /** Rows of the position-embedding table(s), less the family's offset; 0 when none is found. */
    private static long positionRows(GraphProto graph, GraphIndex index, ModelFamily family) {
        Pattern p = family.positionEmbeddingPattern();
        if (p == null) {
            return 0;
        }
        long best = 0;
        for (NodeProto n : graph.getNodeList()) {
            if (!n.getOpType().equals("Gather") || n.getInputCount() < 2 || !index.isInitializer(n.getInput(0))) {
                continue;
            }
            TensorProto t = index.initializer(n.getInput(0));
            boolean named = p.matcher(t.getName()).find() || p.matcher(n.getName()).find()
                    || n.getMetadataPropsList().stream().anyMatch(m -> m.getKey().equals("pkg.torch.onnx.name_scopes")
                            && p.matcher(m.getValue()).find());
            if (named && t.getDimsCount() == 2) {
                long rows = t.getDims(0) - family.positionOffset();
                best = best == 0 ? rows : Math.min(best, rows);
            }
        }
        return Math.max(0, best);
    }

    private static StaticShape staticShape(List<Input> inputs, String what) {
        long batch = 0;
        long source = 0;
        long target = 0;
        for (Input i : inputs) {
            batch = agree(batch, i.fixed(0), "batch size", i, what);
            switch (i.feed()) {
                case INPUT_IDS, ATTENTION_MASK -> source = agree(source, i.fixed(1), "source length", i, what);
                case DECODER_INPUT_IDS, DECODER_ATTENTION_MASK -> target = agree(target, i.fixed(1), "target length", i,
                        what);
                default -> { }
            }
        }
        return new StaticShape(batch, source, target);
    }

    private static long agree(long so, long now, String size, Input i, String what) {
        if (now > 0 && so > 0 && now != so) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + i.name() + "' of " + what + " fixes the "
                    + size + " to " + now + " but another input fixes it to " + so);
        }
        return now > 0 ? now : so;
    }

    /** The same contract with an explicit decoder start token; refused when outside the vocabulary. */
    public Seq2SeqSignature withDecoderStartTokenId(long id) {
        if (id < 0 || (vocab > 0 && id >= vocab)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "decoder start token id " + id + " is outside the"
                    + " vocabulary of " + what + " (0.." + (vocab - 1) + ")");
        }
        return new Seq2SeqSignature(what, kind, inputs, logitsOutput, encoderOutput, family, padTokenId, id,
                maxPositions, vocab, staticShape);
    }

    private static final String SOURCE = "the maximum source length";
    private static final String TARGET = "the maximum target length";

    /** Refuses sequence lengths the model's position table cannot hold. */
    public void checkMaxLengths(int maxSourceLength, int maxTargetLength) {
        checkMaxLengths(maxSourceLength, maxTargetLength, SOURCE, TARGET, true);
    }

    /** As {@link #checkMaxLengths(int, int)}, naming the two settings {@code sourceName} and {@code targetName}. */
    public void checkMaxLengths(int maxSourceLength, int maxTargetLength, String sourceName, String targetName) {
        checkMaxLengths(maxSourceLength, maxTargetLength, sourceName, targetName, false);
    }

    /** {@code standard}: the lengths are the usual maximum source/target settings (errors carry the {@link Setting}). */
    private void checkMaxLengths(int maxSourceLength, int maxTargetLength, String sourceName, String targetName,
            boolean standard) {
        if (maxPositions <= 0) {
            return;
        }
        if (kind != Kind.DECODER && maxSourceLength > maxPositions) {
            throw tooLong(sourceName, maxSourceLength, standard ? Setting.MAX_SOURCE_LENGTH : null);
        }
        if (kind != Kind.ENCODER && maxTargetLength > maxPositions) {
            throw tooLong(targetName, maxTargetLength, standard ? Setting.MAX_TARGET_LENGTH : null);
        }
    }

    private OnnxLoraException tooLong(String name, int n, Setting setting) {
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, setting, name + " " + n + " is beyond the " + maxPositions
                + " positions of " + what + "'s position embeddings; use " + maxPositions + " or less");
    }

    /**
     * Refuses maximum lengths beyond a size the export fixes, before any data is read: batches are padded up
     * to a fixed size, never cut, so only lengths up to it can be fed.
     */
    public void checkFitsStatic(int maxSourceLength, int maxTargetLength) {
        checkFitsStatic(maxSourceLength, maxTargetLength, SOURCE, TARGET, true);
    }

    /** As {@link #checkFitsStatic(int, int)}, naming the two settings {@code sourceName} and {@code targetName}. */
    public void checkFitsStatic(int maxSourceLength, int maxTargetLength, String sourceName, String targetName) {
        checkFitsStatic(maxSourceLength, maxTargetLength, sourceName, targetName, false);
    }

    private void checkFitsStatic(int maxSourceLength, int maxTargetLength, String sourceName, String targetName,
            boolean standard) {
        for (Input i : inputs) {
            long fixed = i.fixed(1);
            boolean source = i.feed() == Feed.INPUT_IDS || i.feed() == Feed.ATTENTION_MASK;
            boolean target = i.feed() == Feed.DECODER_INPUT_IDS || i.feed() == Feed.DECODER_ATTENTION_MASK;
            if (kind == Kind.DECODER && i.feed() == Feed.ATTENTION_MASK) {
                target = false; // a decoder file's attention_mask is the encoder's
            }
            int wanted = source ? maxSourceLength : target ? maxTargetLength : 0;
            if (fixed > 0 && wanted > fixed) {
                Setting setting = !standard ? null : source ? Setting.MAX_SOURCE_LENGTH : Setting.MAX_TARGET_LENGTH;
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, setting, String.format(Locale.ROOT,
                        "input '%s' of %s has a fixed length of %d, shorter than %s %d; set %s to %d or less"
                                + " (longer %s are cut)", i.name(), what, fixed, source ? sourceName : targetName,
                        wanted, source ? sourceName : targetName, fixed, source ? "sources" : "targets"));
            }
        }
    }

    /** Refuses a tokenizer with more ids than the model's embedding has rows. */
    public void checkTokenizerVocab(long tokenizerVocab, String tokenizer) {
        if (vocab > 0 && tokenizerVocab > vocab) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "tokenizer " + tokenizer + " has a vocabulary of "
                    + tokenizerVocab + " tokens but " + what + "'s embedding has only " + vocab
                    + " rows; use the tokenizer the model was trained with");
        }
    }

    public Kind kind() {
        return kind;
    }

    public List<Input> inputs() {
        return inputs;
    }

    public boolean has(Feed feed) {
        return inputs.stream().anyMatch(i -> i.feed() == feed);
    }

    /** The graph input carrying {@code feed}; empty when the graph does not take it. */
    public Optional<Input> input(Feed feed) {
        return inputs.stream().filter(i -> i.feed() == feed).findFirst();
    }

    /** Names of the inputs with {@code feed} (several for the cache). */
    public List<String> names(Feed feed) {
        return inputs.stream().filter(i -> i.feed() == feed).map(Input::name).toList();
    }

    /** The output with the decoder logits; null in an encoder file. */
    public String logitsOutput() {
        return logitsOutput;
    }

    /** The encoder's hidden-states output (an Optimum encoder file's). */
    public String encoderOutput() {
        return encoderOutput;
    }

    /** The cache output that feeds a {@code past_key_values.*} input on the next step. */
    public String presentFor(String pastInput) {
        return family.presentOutputPrefix() + pastInput.substring(family.pastInputPrefix().length());
    }

    public long padTokenId() {
        return padTokenId;
    }

    public long decoderStartTokenId() {
        return decoderStartTokenId;
    }

    /** Longest sequence the position table holds; 0 when unknown. */
    public long maxPositions() {
        return maxPositions;
    }

    /** Rows of the token embedding; 0 when unknown. */
    public long vocab() {
        return vocab;
    }

    public StaticShape staticShape() {
        return staticShape;
    }

    /** The model as messages name it. */
    public String what() {
        return what;
    }

    @Override
    public String toString() {
        return what + " " + kind + " " + inputs.stream().map(i -> i.name() + "=" + i.feed()).toList() + " logits="
                + logitsOutput;
    }

    /** Feeds by name, for callers that look a name up. */
    public Map<String, Feed> feedsByName() {
        Map<String, Feed> m = new java.util.LinkedHashMap<>();
        inputs.forEach(i -> m.put(i.name(), i.feed()));
        return m;
    }
}
