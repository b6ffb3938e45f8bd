package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Seq2SeqSignature.Feed;

/**
 * Joins an Optimum export's {@code encoder_model.onnx} and {@code decoder_model.onnx} into one
 * encoder-decoder graph that the training compiler takes like a single-file export: the
 * decoder's {@code encoder_hidden_states} becomes the encoder's output, its
 * {@code encoder_attention_mask} the encoder's {@code attention_mask}, and its ids and mask
 * are renamed to the full model's {@code decoder_input_ids} / {@code decoder_attention_mask}.
 *
 * <p>Both files are separate exports, so their anonymous names ({@code onnx::MatMul_846},
 * {@code /Constant_output_0}, ...) can collide: every decoder value, node or initializer name
 * that the encoder already uses is renamed. Adapters keep their names (they are named after
 * canonical module paths, distinct between the stacks), so the adapters trained on the joined
 * graph are exactly those of the folder's files. The output is the decoder's logits.
 */
public final class OptimumStitchPass {
    private OptimumStitchPass() {}

    /**
     * The joined model. The result names each decoder value, node or initializer that was renamed
     * ({@code "old -> new"}); the stitch refuses nothing short of failing, which it does with the reason.
     */
    public static PassResult<ModelProto> apply(ModelProto encoder, Seq2SeqSignature encoderSig, ModelProto decoder,
            Seq2SeqSignature decoderSig) {
        if (encoderSig.kind() != Seq2SeqSignature.Kind.ENCODER || decoderSig.kind() != Seq2SeqSignature.Kind.DECODER) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "an Optimum encoder and decoder are needed, got "
                    + encoderSig.kind() + " and " + decoderSig.kind());
        }
        if (decoderSig.has(Feed.PAST_KEY_VALUES)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, decoderSig.what()
                    + " takes past keys/values; training joins the encoder with the decoder that has no cache inputs");
        }
        GraphProto enc = encoder.getGraph();
        GraphProto dec = decoder.getGraph();
        requireNoSubgraphs(enc, encoderSig.what());
        requireNoSubgraphs(dec, decoderSig.what());
        GraphIndex encIndex = new GraphIndex(enc);
        String hidden = encoderSig.encoderOutput();
        if (!encIndex.isGraphOutput(hidden)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, encoderSig.what() + " has no output '" + hidden + "'");
        }
        String sourceMask = encoderSig.input(Feed.ATTENTION_MASK).map(Seq2SeqSignature.Input::name).orElse(null);

        // Decoder inputs that the joined graph feeds from the encoder or under the full model's names.
        Map<String, String> rename = new LinkedHashMap<>();
        List<ValueInfoProto> newInputs = new ArrayList<>();
        for (Seq2SeqSignature.Input in : decoderSig.inputs()) {
            switch (in.feed()) {
                case ENCODER_HIDDEN_STATES -> rename.put(in.name(), hidden);
                case ATTENTION_MASK -> {
                    if (sourceMask == null) {
                        throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, decoderSig.what() + " takes '"
                                + in.name() + "' but " + encoderSig.what() + " takes no attention mask to feed it");
                    }
                    rename.put(in.name(), sourceMask);
                }
                case DECODER_INPUT_IDS, DECODER_ATTENTION_MASK -> {
                    rename.put(in.name(), in.feed().key());
                    newInputs.add(dec.getInputList().stream().filter(v -> v.getName().equals(in.name())).findFirst()
                            .orElseThrow().toBuilder().setName(in.feed().key()).build());
                }
                default -> throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "input '" + in.name() + "' of "
                        + decoderSig.what() + " cannot be fed when training");
            }
        }
        Set<String> encNames = new LinkedHashSet<>(encIndex.allNames());
        for (NodeProto n : enc.getNodeList()) {
            encNames.add(n.getName());
        }
        NameGen names = new NameGen(encNames);
        for (String v : rename.values()) {
            if (encNames.contains(v) && !v.equals(hidden) && !v.equals(sourceMask)) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, encoderSig.what() + " already uses the name '"
                        + v + "' the joined graph needs for the decoder's input");
            }
            names.reserve(v);
        }
        GraphIndex decIndex = new GraphIndex(dec);
        Set<String> decNames = new LinkedHashSet<>(decIndex.allNames());
        for (NodeProto n : dec.getNodeList()) {
            decNames.add(n.getName());
        }
        for (String name : decNames) {
            if (!rename.containsKey(name) && !name.isEmpty() && encNames.contains(name)) {
                rename.put(name, names.fresh(name));
            }
        }
        Set<String> adapters = new LinkedHashSet<>();
        LoraMetadata.read(encoder).ifPresent(i -> adapters.addAll(i.trainable()));
        for (String a : LoraMetadata.read(decoder).map(LoraMetadata.Info::trainable).orElse(List.of())) {
            if (adapters.contains(a) || rename.containsKey(a)) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "adapter '" + a
                        + "' appears in both the encoder and the decoder file");
            }
            adapters.add(a);
        }

        GraphProto.Builder g = enc.toBuilder().clearOutput().setName(enc.getName() + "+" + dec.getName());
        g.addAllInput(newInputs);
        for (TensorProto t : dec.getInitializerList()) {
            g.addInitializer(t.toBuilder().setName(rename.getOrDefault(t.getName(), t.getName())));
        }
        for (NodeProto n : dec.getNodeList()) {
            NodeProto.Builder b = n.toBuilder().clearInput().clearOutput().setName(rename.getOrDefault(n.getName(),
                    n.getName()));
            n.getInputList().forEach(i -> b.addInput(rename.getOrDefault(i, i)));
            n.getOutputList().forEach(o -> b.addOutput(rename.getOrDefault(o, o)));
            g.addNode(b);
        }
        for (ValueInfoProto v : dec.getValueInfoList()) {
            g.addValueInfo(v.toBuilder().setName(rename.getOrDefault(v.getName(), v.getName())));
        }
        String logits = decoderSig.logitsOutput();
        ValueInfoProto out = dec.getOutputList().stream().filter(v -> v.getName().equals(logits)).findFirst()
                .orElseThrow(() -> new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, decoderSig.what()
                        + " has no output '" + logits + "'"));
        g.addOutput(out.toBuilder().setName(rename.getOrDefault(logits, logits)));
        if (rename.containsKey(logits)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, encoderSig.what() + " already uses the name '"
                    + logits + "' of the decoder's logits");
        }

        ModelProto.Builder m = encoder.toBuilder().setGraph(g).clearOpsetImport();
        Map<String, Long> opsets = new LinkedHashMap<>();
        for (ModelProto part : List.of(encoder, decoder)) {
            for (OperatorSetIdProto o : part.getOpsetImportList()) {
                Long had = opsets.put(o.getDomain(), o.getVersion());
                if (had != null && had != o.getVersion()) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the encoder and decoder files import"
                            + " opset " + had + " and " + o.getVersion() + " of domain '" + o.getDomain()
                            + "'; export them together");
                }
            }
        }
        opsets.forEach((d, v) -> m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(d).setVersion(v)));
        ModelProto joined = m.build();
        if (!adapters.isEmpty()) {
            LoraMetadata.Info e = LoraMetadata.read(encoder).orElse(null);
            LoraMetadata.Info d = LoraMetadata.read(decoder).orElse(null);
            LoraMetadata.Info base = e != null ? e : d;
            List<LoraMetadata.Module> modules = new ArrayList<>();
            if (e != null) {
                modules.addAll(e.modules());
            }
            if (d != null) {
                modules.addAll(d.modules());
            }
            LoraMetadata.Info info = new LoraMetadata.Info(base.format(), base.rank(), base.alpha(), base.useRslora(),
                    base.init(), base.seed(), base.targets(), modules, List.copyOf(adapters), base.frozen());
            joined = LoraMetadata.withEntry(joined, LoraMetadata.KEY, LoraMetadata.toJson(info));
        }
        List<String> changed = new ArrayList<>();
        rename.forEach((from, to) -> changed.add(from + " -> " + to));
        return new PassResult<>("optimum-stitch", joined, changed, List.of());
    }

    private static void requireNoSubgraphs(GraphProto g, String what) {
        for (NodeProto n : g.getNodeList()) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG() || a.getGraphsCount() > 0) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, what + " has a control-flow node ("
                            + GraphIndex.describe(n) + "); export the decoder without use_cache branches");
                }
            }
        }
    }
}
