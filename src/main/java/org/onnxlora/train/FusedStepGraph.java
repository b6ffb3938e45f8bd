package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * The whole optimizer step as one graph: the training graph (forward, loss, adapter gradients)
 * followed by the flat AdamW step ({@link OptimizerGraph}), so a step is one {@code OrtSession.run}
 * of one session. Every ONNX Runtime CUDA session brings its own execution provider (cuBLAS,
 * cuDNN and cuBLASLt handles, its own arena): about 146 MiB of GPU memory whatever the graph, so
 * the separate optimizer session costs that much, plus a run and a gradient round trip through the
 * host per step.
 *
 * <p>The training nodes are unchanged; its per-adapter gradients stop being graph outputs and are
 * flattened and concatenated in {@link AdapterLayout} order (zeros in the alignment gaps, which the
 * flat buffers hold too) into the optimizer's flat gradient. The optimizer's gradient scale,
 * {@code 1 / (max(1, token_count) · seed_scale)}, is computed in the graph, in float64 as the host
 * computes it for the separate optimizer, from the graph's own token count; the host feeds only
 * {@link #SEED_SCALE}, what the gradient seed was multiplied by (1, or the fp16 loss scale over the
 * batch's tokens). The optimizer's inputs and outputs keep their names; its internal values take
 * the prefix {@link #PREFIX}.
 *
 * <p>Inputs: the training graph's and {@code adapters}, {@code exp_avg}, {@code exp_avg_sq},
 * {@code lr}, {@code step}, {@link #SEED_SCALE}; the adapter inputs and {@code adapters} are fed
 * from the same flat buffer. Outputs: {@code loss_sum}, {@code token_count} and the optimizer's.
 */
public final class FusedStepGraph {
    /** float64 scalar: what the training graph's gradient seed was multiplied by (1 without loss scaling). */
    public static final String SEED_SCALE = "grad_seed_scale";
    /** Prefix of the optimizer's internal names inside the fused graph. */
    static final String PREFIX = "optimizer/";

    /**
     * Ops the optimizer and the glue may use, each meaning the same at every default-domain opset
     * from 13 on (ReduceSum only without axes, which reduces everything in both its attribute and
     * its input form), so they run under the training graph's opset unchanged.
     */
    private static final Set<String> OPSET_STABLE = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Min", "Max",
            "Cast", "Identity", "ReduceSum", "Reshape", "Concat", "Pad", "Slice");
    private static final long MIN_OPSET = 13;

    private FusedStepGraph() {}

    public static ModelProto build(ModelProto training, ModelProto optimizer, AdapterLayout layout) {
        GraphProto t = training.getGraph();
        GraphProto o = optimizer.getGraph();
        GraphIndex index = new GraphIndex(t);
        Set<String> used = index.allNames();
        used.remove("");

        Set<String> kept = new LinkedHashSet<>();
        List<ValueInfoProto> optimizerInputs = new ArrayList<>();
        for (ValueInfoProto in : o.getInputList()) {
            if (!in.getName().equals(OptimizerGraph.GRADS) && !in.getName().equals(OptimizerGraph.GRAD_SCALE)) {
                kept.add(in.getName());
                optimizerInputs.add(in);
            }
        }
        o.getOutputList().forEach(out -> kept.add(out.getName()));
        kept.add(SEED_SCALE);
        for (String n : kept) {
            requireFree(n, used);
        }
        Map<String, String> rename = new HashMap<>();
        for (NodeProto n : o.getNodeList()) {
            n.getInputList().forEach(v -> renamed(v, kept, rename, used));
            n.getOutputList().forEach(v -> renamed(v, kept, rename, used));
            renamed(n.getName(), kept, rename, used);
        }
        o.getInitializerList().forEach(i -> renamed(i.getName(), kept, rename, used));
        renamed(OptimizerGraph.GRADS, kept, rename, used);
        renamed(OptimizerGraph.GRAD_SCALE, kept, rename, used);

        Set<String> taken = new HashSet<>(used);
        taken.addAll(kept);
        taken.addAll(rename.values());
        GraphBuilder b = new GraphBuilder(new NameGen(taken)).scope("/fused");
        Set<String> gradOutputs = new HashSet<>();
        List<FlatConcat.Piece> pieces = new ArrayList<>();
        Map<Integer, String> zeros = new HashMap<>();
        Map<String, ValueInfoProto> outputs = index.outputs();
        for (AdapterSpec s : layout.specs()) {
            String grad = AdapterSpec.grad(s.name());
            ValueInfoProto out = outputs.get(grad);
            if (out == null || out.getType().getTensorType().getElemType() != DataType.FLOAT_VALUE) {
                throw new IllegalStateException("the training graph has no float gradient output '" + grad + "'");
            }
            gradOutputs.add(grad);
            pieces.add(new FlatConcat.Piece(grad, s.elements()));
            int gap = (int) (AdapterLayout.roundUp(s.elements()) - s.elements());
            if (gap > 0) {
                pieces.add(new FlatConcat.Piece(zeros.computeIfAbsent(gap, g -> b.initializer(
                        org.onnxlora.io.Tensors.ofFloats("/fused/zeros", new long[] {g}, new float[g]))), gap));
            }
        }
        if (!outputs.containsKey(TrainingCompiler.TOKEN_COUNT)) {
            throw new IllegalStateException("the training graph has no output '" + TrainingCompiler.TOKEN_COUNT + "'");
        }
        FlatConcat.emit(b, pieces, rename.get(OptimizerGraph.GRADS));
        int d = DataType.DOUBLE_VALUE;
        String tokens = b.op("Max", b.op("Cast", TrainingCompiler.TOKEN_COUNT, Attrs.i("to", d)), b.scalar(1, d));
        String scale = b.op("Div", b.scalar(1, d), b.op("Mul", tokens, SEED_SCALE));
        b.add("", "Cast", b.names().fresh("/fused/Cast"), List.of(scale), List.of(rename.get(OptimizerGraph.GRAD_SCALE)),
                Attrs.i("to", DataType.FLOAT_VALUE));

        GraphProto.Builder g = t.toBuilder().setName(t.getName() + "_step").clearOutput();
        for (ValueInfoProto out : t.getOutputList()) {
            if (!gradOutputs.contains(out.getName())) {
                g.addOutput(out);
            }
        }
        g.addAllInput(optimizerInputs);
        g.addInput(Graphs.tensorValue(SEED_SCALE, d, new long[0]));
        g.addAllNode(b.nodes()).addAllInitializer(b.initializers());
        for (NodeProto n : o.getNodeList()) {
            requireStable(n);
            NodeProto.Builder nb = n.toBuilder().clearInput().clearOutput().setName(name(n.getName(), rename));
            n.getInputList().forEach(v -> nb.addInput(name(v, rename)));
            n.getOutputList().forEach(v -> nb.addOutput(name(v, rename)));
            g.addNode(nb);
        }
        for (TensorProto init : o.getInitializerList()) {
            g.addInitializer(init.toBuilder().setName(rename.get(init.getName())));
        }
        o.getOutputList().forEach(g::addOutput);
        b.nodes().forEach(FusedStepGraph::requireStable);
        return training.toBuilder().clearOpsetImport().addAllOpsetImport(opsets(training, optimizer)).setGraph(g)
                .build();
    }

    private static void renamed(String v, Set<String> kept, Map<String, String> rename, Set<String> used) {
        if (v.isEmpty() || kept.contains(v) || rename.containsKey(v)) {
            return;
        }
        String n = PREFIX + v;
        requireFree(n, used);
        rename.put(v, n);
    }

    private static String name(String v, Map<String, String> rename) {
        return v.isEmpty() ? v : rename.getOrDefault(v, v);
    }

    private static void requireFree(String name, Set<String> used) {
        if (used.contains(name)) {
            throw new IllegalStateException("cannot fuse the optimizer into the training graph: the name '" + name
                    + "' is used by both");
        }
    }

    private static void requireStable(NodeProto n) {
        boolean axes = n.getAttributeList().stream().anyMatch(a -> a.getName().equals("axes"));
        boolean graphs = n.getAttributeList().stream().anyMatch(a -> a.getType() == AttributeProto.AttributeType.GRAPH
                || a.getType() == AttributeProto.AttributeType.GRAPHS);
        if (!Domains.isDefault(n) || !OPSET_STABLE.contains(n.getOpType()) || graphs
                || (n.getOpType().equals("ReduceSum") && (axes || n.getInputCount() > 1))) {
            throw new IllegalStateException("cannot fuse the optimizer node " + GraphIndex.describe(n)
                    + ": its meaning may depend on the opset");
        }
    }

    /**
     * The training graph's opsets: its nodes must keep their meaning, and the optimizer's ops mean
     * the same at any opset from 13 on ({@link #OPSET_STABLE}); a domain only the optimizer imports is added.
     */
    private static List<OperatorSetIdProto> opsets(ModelProto training, ModelProto optimizer) {
        List<OperatorSetIdProto> out = new ArrayList<>(training.getOpsetImportList());
        long version = out.stream().filter(x -> Domains.isDefault(x.getDomain())).mapToLong(OperatorSetIdProto::getVersion)
                .findFirst().orElse(0);
        if (version < MIN_OPSET) {
            throw new IllegalStateException("the training graph imports default-domain opset " + version
                    + "; the fused step needs " + MIN_OPSET + " or later");
        }
        for (OperatorSetIdProto x : optimizer.getOpsetImportList()) {
            if (Domains.isDefault(x.getDomain())) {
                if (x.getVersion() < MIN_OPSET) {
                    throw new IllegalStateException("the optimizer graph imports opset " + x.getVersion()
                            + "; the fused step needs " + MIN_OPSET + " or later");
                }
                continue;
            }
            var same = out.stream().filter(y -> y.getDomain().equals(x.getDomain())).findFirst();
            if (same.isEmpty()) {
                out.add(x);
            } else if (same.get().getVersion() != x.getVersion()) {
                throw new IllegalStateException("the training and optimizer graphs import domain '" + x.getDomain()
                        + "' at versions " + same.get().getVersion() + " and " + x.getVersion());
            }
        }
        return out;
    }
}
