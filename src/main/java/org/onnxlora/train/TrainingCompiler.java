package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.autodiff.AttentionRecompute;
import org.onnxlora.autodiff.Backprop;
import org.onnxlora.autodiff.Recompute;
import org.onnxlora.autodiff.rules.StandardRules;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.lora.LoraBranch;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Compiles a patched model into training artifacts that stock ONNX Runtime runs:
 *
 * <ul>
 *   <li><b>training</b>: batch + adapters in → {@code loss_sum}, {@code token_count},
 *       {@code grad.<adapter>} (gradients of the summed loss) out;</li>
 *   <li><b>eval</b>: batch + adapters in → {@code loss_sum}, {@code token_count}, logits out;</li>
 *   <li><b>optimizer</b>: one AdamW step over all adapters ({@link OptimizerGraph}).</li>
 * </ul>
 *
 * Adapters become graph inputs (the runner feeds adapter-sized tensors each step);
 * every other initializer stays frozen inside the graph and is never differentiated.
 */
public final class TrainingCompiler {
    public static final String LABELS = "labels";
    public static final String LOSS_SUM = "loss_sum";
    public static final String TOKEN_COUNT = "token_count";
    /** Rewrites of the forward before it is differentiated, applied in this order. */
    static final List<GraphPass> FORWARD_PASSES = List.of(new TiedWeightPass(), new TransposedWeightPass(),
            new GeluFusionPass(), new LayerNormStatsPass(), new GatherNdLoweringPass(), new LoraBranchFoldPass(),
            new SiblingAdapterPass());

    /** fp16 only: the training graph's gradient seed is multiplied by this (dynamic loss scaling, {@link LossScaler}). */
    public static final String LOSS_SCALE = "loss_scale";

    /** What to compile: the loss, the optimizer, where the logits are and the number format of the compute. */
    public record Options(LossConfig loss, OptimizerConfig optimizer, String logitsOutput, Precision precision,
            Recompute recompute) {
        public Options {
            precision = precision == null ? Precision.FP32 : precision;
            recompute = recompute == null ? Recompute.NONE : recompute;
        }

        public Options(LossConfig loss, OptimizerConfig optimizer, String logitsOutput, Precision precision) {
            this(loss, optimizer, logitsOutput, precision, Recompute.NONE);
        }

        public Options(LossConfig loss, OptimizerConfig optimizer, String logitsOutput) {
            this(loss, optimizer, logitsOutput, Precision.FP32);
        }

        public Options withRecompute(Recompute r) {
            return new Options(loss, optimizer, logitsOutput, precision, r);
        }

        public static Options defaults() {
            return new Options(LossConfig.DEFAULT, OptimizerConfig.DEFAULT, ModelFamily.bart().logitsOutput());
        }

        public Options withPrecision(Precision p) {
            return new Options(loss, optimizer, logitsOutput, p, recompute);
        }
    }

    /**
     * The compiled graphs and the adapters they train, with their current values; {@link #directory()}
     * is the folder {@link ArtifactStore} wrote them to, empty while they exist in memory only (a
     * session opens the training graph from its file, so ONNX Runtime resolves the frozen weights).
     */
    public record Artifacts(ModelProto training, ModelProto eval, ModelProto optimizer, List<AdapterSpec> adapters,
            Map<String, TensorProto> initialAdapters, String logitsOutput,
            java.util.Optional<java.nio.file.Path> directory) {

        /** Just compiled: not on disk yet. */
        static Artifacts inMemory(ModelProto training, ModelProto eval, ModelProto optimizer, List<AdapterSpec> adapters,
                Map<String, TensorProto> initialAdapters, String logitsOutput) {
            return new Artifacts(training, eval, optimizer, adapters, initialAdapters, logitsOutput,
                    java.util.Optional.empty());
        }

        /** Read back from {@code dir}. */
        static Artifacts stored(ModelProto training, ModelProto eval, ModelProto optimizer, List<AdapterSpec> adapters,
                Map<String, TensorProto> initialAdapters, String logitsOutput, java.nio.file.Path dir) {
            return new Artifacts(training, eval, optimizer, adapters, initialAdapters, logitsOutput,
                    java.util.Optional.of(dir));
        }
    }

    private final Backprop backprop;

    public TrainingCompiler() {
        this(new Backprop(StandardRules.registry()));
    }

    public TrainingCompiler(Backprop backprop) {
        this.backprop = backprop;
    }

    public Artifacts compile(ModelProto patched, Options options) {
        GraphProto graph = patched.getGraph();
        GraphIndex index = new GraphIndex(graph);
        List<String> trainable = trainableNames(patched);
        String logits = options.logitsOutput();
        if (!index.isGraphOutput(logits)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, Setting.LOGITS_OUTPUT,
                    "the model has no decoder logits output '" + logits
                    + "' (outputs: " + index.outputs().keySet() + "); export the full seq2seq model with logits,"
                    + " or name its logits output");
        }
        requireOpset(patched, 13);

        // Adapters leave the initializers and become inputs; everything else stays frozen in the graph.
        List<AdapterSpec> specs = new ArrayList<>();
        Map<String, TensorProto> initial = new LinkedHashMap<>();
        Set<String> adapterNames = new HashSet<>(trainable);
        GraphProto.Builder fwd = graph.toBuilder().clearInitializer().clearOutput();
        for (TensorProto t : graph.getInitializerList()) {
            if (adapterNames.contains(t.getName())) {
                t = Precision.masterAdapter(t);
                long[] dims = org.onnxlora.io.Tensors.shape(t);
                specs.add(new AdapterSpec(t.getName(), dims, t.getDataType()));
                initial.put(t.getName(), t);
                fwd.addInput(Graphs.tensorValue(t.getName(), t.getDataType(), dims));
            } else {
                fwd.addInitializer(t);
            }
        }
        for (String name : trainable) {
            if (!initial.containsKey(name)) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                        "trainable tensor '" + name + "' listed in the model's metadata is not an initializer");
            }
        }
        ValueInfoProto labels = Graphs.tensorValue(LABELS, DataType.INT64_VALUE, new long[] {-1, -1},
                "batch_size", "decoder_sequence_length");
        fwd.addInput(labels);
        List<PassResult<GraphProto>> rewrites = GraphPass.chain(fwd.build(), FORWARD_PASSES);
        GraphProto forward = rewrites.get(rewrites.size() - 1).output();
        // last: the passes above match the exporter's float32 patterns, which the casts would hide
        if (options.precision().isHalf() || Precision.hasHalfWeights(forward)) {
            forward = PrecisionPass.apply(forward, options.precision().computeType(), Set.of(logits));
        }

        ModelProto training = withGraph(patched, build(forward, logits, options, true, specs), "training");
        ModelProto eval = withGraph(patched, build(forward, logits, options, false, specs), "eval");
        ModelProto optimizer = OptimizerGraph.build(specs, options.optimizer());
        return Artifacts.inMemory(training, eval, optimizer, specs, initial, logits);
    }

    private GraphProto build(GraphProto forward, String logits, Options options, boolean withGradients,
            List<AdapterSpec> specs) {
        NameGen names = new NameGen(new GraphIndex(forward).allNames());
        for (String reserved : List.of(LOSS_SUM, TOKEN_COUNT)) {
            names.reserve(reserved);
        }
        specs.forEach(s -> names.reserve(AdapterSpec.grad(s.name())));
        GraphBuilder b = new GraphBuilder(names);
        LossBuilder.Loss loss = LossBuilder.build(b, logits, LABELS, options.loss(), withGradients);
        GraphProto.Builder g = forward.toBuilder();
        int f = DataType.FLOAT_VALUE;
        b.scope("/outputs");
        b.add("", "Identity", names.fresh("/outputs/loss_sum"), List.of(loss.lossSum()), List.of(LOSS_SUM));
        b.add("", "Identity", names.fresh("/outputs/token_count"), List.of(loss.tokenCount()), List.of(TOKEN_COUNT));
        g.addOutput(Graphs.tensorValue(LOSS_SUM, f, new long[0]));
        g.addOutput(Graphs.tensorValue(TOKEN_COUNT, f, new long[0]));
        int gradientStart = -1;
        if (withGradients) {
            Set<String> wrt = new LinkedHashSet<>();
            specs.forEach(s -> wrt.add(s.name()));
            String seed = loss.dlogits();
            if (options.precision().needsLossScaling()) {
                names.reserve(LOSS_SCALE);
                g.addInput(Graphs.tensorValue(LOSS_SCALE, f, new long[0]));
                seed = b.op("Mul", seed, LOSS_SCALE);
            }
            gradientStart = forward.getNodeCount() + b.nodes().size();
            Map<String, String> grads = backprop.build(forward, Map.of(logits, seed), wrt, b,
                    BatchDims.infer(forward));
            b.scope("/outputs");
            for (AdapterSpec s : specs) {
                String out = AdapterSpec.grad(s.name());
                b.add("", "Identity", names.fresh("/outputs/" + out), List.of(grads.get(s.name())), List.of(out));
                g.addOutput(Graphs.tensorValue(out, s.dataType(), s.dims()));
            }
        } else {
            g.addOutput(Graphs.tensorValue(logits, f, new long[] {-1, -1, -1}, "batch_size",
                    "decoder_sequence_length", "vocab"));
        }
        g.addAllNode(b.nodes()).addAllInitializer(b.initializers());
        GraphProto built = withGradients && options.recompute() == Recompute.ATTENTION
                ? AttentionRecompute.apply(g.build(), gradientStart).output() : g.build();
        if (withGradients) {
            built = LabelColumnSplit.apply(built, loss.dlogits(), loss.labelColumn()).output();
        }
        // last, on the whole graph: no host-to-device copy left for ONNX Runtime's CUDA provider to insert
        return new HostScalarPass().apply(built).output();
    }

    /** Trainable tensors: from the model's LoRA metadata, else from the branches in the graph. */
    static List<String> trainableNames(ModelProto patched) {
        List<String> names = LoraMetadata.read(patched).map(LoraMetadata.Info::trainable).orElse(null);
        if (names == null || names.isEmpty()) {
            names = new ArrayList<>();
            for (LoraBranch br : BranchFinder.find(patched.getGraph())) {
                names.add(br.loraA());
                names.add(br.loraB());
            }
        }
        if (names.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                    "the model has no LoRA adapters to train; run 'onnx-lora patch' on it first");
        }
        return names;
    }

    private static void requireOpset(ModelProto m, long min) {
        for (OperatorSetIdProto o : m.getOpsetImportList()) {
            if (Domains.isDefault(o.getDomain()) && o.getVersion() < min) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the model uses opset " + o.getVersion()
                        + "; training needs opset " + min + " or later (re-export with opset_version=17)");
            }
        }
    }

    private static ModelProto withGraph(ModelProto patched, GraphProto g, String role) {
        ModelProto.Builder m = patched.toBuilder().setGraph(g.toBuilder().setName(g.getName() + "_" + role));
        boolean ms = g.getNodeList().stream().anyMatch(n -> n.getDomain().equals(GraphBuilder.MS_DOMAIN));
        boolean has = m.getOpsetImportList().stream().anyMatch(o -> o.getDomain().equals(GraphBuilder.MS_DOMAIN));
        if (ms && !has) {
            m.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1));
        }
        return m.build();
    }
}
