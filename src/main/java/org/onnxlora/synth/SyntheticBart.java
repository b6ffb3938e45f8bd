package org.onnxlora.synth;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Builds a randomly initialised BartForConditionalGeneration as the TorchScript exporter
 * would write it, for tests and benchmarks that need real-sized models nobody may
 * commit or download.
 *
 * <p>Memory: the weights are generated once, straight into the {@code raw_data} of each
 * initializer, so the returned model holds {@link BartShape#weightBytes()} of heap and
 * nothing more (base ≈ 0.71 GB, large ≈ 1.83 GB in float32; give the JVM about
 * 1.2× that, e.g. {@code -Xmx2500m} for large). Saving it with {@code ModelIO.save}
 * streams those arrays and allocates no second copy.
 */
public final class SyntheticBart {
    /** What the exporter that we mirror declares; ORT needs opset ≥ 17 for LayerNormalization. */
    static final int IR_VERSION = 8;
    static final int OPSET = 17;
    public static final String PRODUCER = "onnx-lora-synth";

    private SyntheticBart() {}

    public static ModelProto generate(BartShape shape, long seed) {
        NameGen names = new NameGen(Set.of());
        GraphBuilder builder = new GraphBuilder(names);
        WeightPlan plan = new WeightPlan();
        BartParameters.declare(plan, shape);
        plan.names().forEach(names::reserve);
        BartGraphEmitter emitter = new BartGraphEmitter(shape, new ExporterOps(builder, shape.dtype().onnxType()), plan);
        emitter.emit();

        List<NodeProto> nodes = numberAnonymousWeights(builder.nodes(), emitter.anonymousWeights(), plan);
        List<TensorProto> weights = plan.generate(seed, shape.dtype());

        GraphProto graph = GraphProto.newBuilder()
                .setName("main_graph")
                .addAllNode(nodes)
                .addAllInitializer(weights)
                .addInput(ValueInfos.tensor(BartGraphEmitter.INPUT_IDS, TensorProto.DataType.INT64_VALUE,
                        "batch_size", "encoder_sequence_length"))
                .addInput(ValueInfos.tensor(BartGraphEmitter.ATTENTION_MASK, TensorProto.DataType.INT64_VALUE,
                        "batch_size", "encoder_sequence_length"))
                .addInput(ValueInfos.tensor(BartGraphEmitter.DECODER_INPUT_IDS, TensorProto.DataType.INT64_VALUE,
                        "batch_size", "decoder_sequence_length"))
                .addOutput(ValueInfos.tensor(BartGraphEmitter.LOGITS, shape.dtype().onnxType(),
                        "batch_size", "decoder_sequence_length", shape.vocab()))
                .build();
        return ModelProto.newBuilder()
                .setIrVersion(IR_VERSION)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .setProducerName(PRODUCER)
                .setDocString("Synthetic BartForConditionalGeneration (" + shape + "), random weights, seed " + seed)
                .addMetadataProps(meta("synthetic", "true"))
                .addMetadataProps(meta("shape", shape.toString()))
                .addMetadataProps(meta("seed", Long.toString(seed)))
                .setGraph(graph)
                .build();
    }

    /**
     * The exporter names weights it cannot attribute to a parameter {@code onnx::<Consumer>_<N>},
     * with N above every other value number; numbering after the graph is complete gives the same look.
     */
    private static List<NodeProto> numberAnonymousWeights(List<NodeProto> nodes, List<String> placeholders,
            WeightPlan plan) {
        Map<String, String> finalName = new HashMap<>();
        int next = nodes.size() + 1;
        for (String p : placeholders) {
            String consumer = p.substring(BartGraphEmitter.ANONYMOUS.length(), p.lastIndexOf(':'));
            String name = "onnx::" + consumer + "_" + next++;
            finalName.put(p, name);
            plan.rename(p, name);
        }
        return nodes.stream().map(n -> {
            if (n.getInputList().stream().noneMatch(finalName::containsKey)) {
                return n;
            }
            NodeProto.Builder b = n.toBuilder().clearInput();
            n.getInputList().forEach(in -> b.addInput(finalName.getOrDefault(in, in)));
            return b.build();
        }).toList();
    }

    private static StringStringEntryProto meta(String key, String value) {
        return StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }
}
