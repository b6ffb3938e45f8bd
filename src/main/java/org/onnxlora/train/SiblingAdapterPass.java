package org.onnxlora.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Computes the LoRA A products that read one activation as a single product: {@code x·A₁ … x·Aₙ} become
 * {@code Split(x·Concat(A₁ … Aₙ))}. Siblings are the q and v (and k) adapters of one attention layer, and the
 * cross-attention k and v adapters of every decoder layer, which all read the encoder's output.
 *
 * <p>Each A product is a skinny matrix product ({@code r} columns) that reads the whole activation; the backward
 * adds two more per adapter, its weight gradient {@code xᵀ·dxA} and its input gradient {@code dxA·Aᵀ}, and sums
 * the input gradients. Fused, the autodiff's ordinary rules give one product of {@code n·r} columns forward, one
 * weight gradient for all n, and one input gradient whose inner dimension {@code n·r} does the sum: per group,
 * {@code 3(n−1)} activation-wide reads and {@code n−1} adds fewer, for a concatenation and a split of
 * adapter-sized or {@code [tokens, n·r]} tensors.
 *
 * <p>Runs on the forward before it is differentiated (adapters are graph inputs, or initializers in a patched
 * model); only A adapters of known rank and equal element type are grouped.
 */
public final class SiblingAdapterPass implements GraphPass {

    @Override
    public String name() {
        return "sibling-adapters";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Map<String, List<Integer>> byInput = new LinkedHashMap<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            if (Domains.isOp(n, "MatMul") && n.getInputCount() == 2 && n.getInput(1).endsWith(".lora_A")
                    && rank(g, n.getInput(1)) > 0) {
                byInput.computeIfAbsent(n.getInput(0), k -> new ArrayList<>()).add(i);
            }
        }
        NameGen names = new NameGen(g.allNames());
        NodeEdits edits = new NodeEdits();
        List<String> changed = new ArrayList<>();
        List<TensorProto> sizes = new ArrayList<>();
        for (Map.Entry<String, List<Integer>> group : byInput.entrySet()) {
            List<Integer> members = sameType(g, group.getValue());
            if (members.size() < 2) {
                continue;
            }
            NodeProto first = g.node(members.get(0));
            String scope = scopeOf(first.getName());
            List<String> adapters = new ArrayList<>();
            List<String> outputs = new ArrayList<>();
            long[] ranks = new long[members.size()];
            for (int k = 0; k < members.size(); k++) {
                NodeProto n = g.node(members.get(k));
                adapters.add(n.getInput(1));
                outputs.add(n.getOutput(0));
                ranks[k] = rank(g, n.getInput(1));
                edits.remove(members.get(k));
            }
            String stacked = names.fresh(scope + "/lora_siblings/A");
            String product = names.fresh(scope + "/lora_siblings/xA");
            String split = names.fresh(scope + "/lora_siblings/ranks");
            sizes.add(Tensors.ofLongs(split, new long[] {ranks.length}, ranks));
            // Written where the first sibling's product was: x and every adapter exist there, and each
            // sibling's readers come after its own product, so after this one.
            edits.replace(members.get(0), List.of(
                    node("Concat", names.fresh(scope + "/lora_siblings/Concat"), adapters, List.of(stacked))
                            .addAttribute(Attrs.i("axis", 1)).build(),
                    node("MatMul", names.fresh(scope + "/lora_siblings/MatMul"), List.of(group.getKey(), stacked),
                            List.of(product)).build(),
                    node("Split", names.fresh(scope + "/lora_siblings/Split"), List.of(product, split), outputs)
                            .addAttribute(Attrs.i("axis", -1)).build()));
            changed.add(String.join("|", adapters));
        }
        if (edits.isEmpty()) {
            return PassResult.unchanged(name(), graph);
        }
        return new PassResult<>(name(), edits.applyTo(g, graph).addAllInitializer(sizes).build(), changed, List.of());
    }

    private static NodeProto.Builder node(String op, String name, List<String> inputs, List<String> outputs) {
        return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addAllOutput(outputs);
    }

    /** The members whose adapter has the first member's element type (a mixed group keeps the others apart). */
    private static List<Integer> sameType(GraphIndex g, List<Integer> members) {
        int type = elementType(g, g.node(members.get(0)).getInput(1));
        return members.stream().filter(i -> elementType(g, g.node(i).getInput(1)) == type).toList();
    }

    /** The rank r of a 2-D adapter {@code [in, r]}, or 0 when its shape is not known. */
    static long rank(GraphIndex g, String adapter) {
        TensorProto t = g.initializer(adapter);
        if (t != null) {
            return t.getDimsCount() == 2 ? t.getDims(1) : 0;
        }
        ValueInfoProto v = g.inputs().get(adapter);
        if (v == null || !v.getType().hasTensorType()) {
            return 0;
        }
        TensorShapeProto s = v.getType().getTensorType().getShape();
        return s.getDimCount() == 2 && s.getDim(1).hasDimValue() ? s.getDim(1).getDimValue() : 0;
    }

    private static int elementType(GraphIndex g, String adapter) {
        TensorProto t = g.initializer(adapter);
        return t != null ? t.getDataType() : g.inputs().get(adapter).getType().getTensorType().getElemType();
    }

    /** The node's name less its last segment: {@code /model.encoder.layers.0.self_attn.q_proj/lora}. */
    private static String scopeOf(String nodeName) {
        int slash = nodeName.lastIndexOf('/');
        return slash > 0 ? nodeName.substring(0, slash) : "";
    }
}
