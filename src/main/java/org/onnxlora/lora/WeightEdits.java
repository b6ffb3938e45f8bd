package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Low-rank updates of projection weights, {@code W += delta} with {@code delta} given
 * as a logical {@code [in, out]} matrix in double: accumulated in double over W's
 * stored values and rounded once to W's dtype, whatever the stored layout (MatMul
 * {@code [in,out]}, Gemm transB {@code [out,in]}, a Transpose node, Gemm's alpha).
 * A weight read by other nodes too (tied, shared, behind a Transpose) is left intact:
 * the edited projection gets its own copy, in the layout it reads directly.
 */
final class WeightEdits {
    private final GraphIndex g;
    private final NameGen names;
    private final Map<String, TensorProto> replaced = new HashMap<>();
    private final Map<String, String> rewire = new HashMap<>();
    private final List<TensorProto> added = new ArrayList<>();

    WeightEdits(GraphIndex g, NameGen names) {
        this.g = g;
        this.names = names;
    }

    /** Where a projection's weight lives and how it is laid out. */
    record WeightRef(String initializer, boolean transposed, boolean viaTranspose, long in, long out) {
        static WeightRef of(GraphIndex g, NodeProto base) {
            String w = base.getInput(1);
            boolean viaTranspose = false;
            if (!g.isInitializer(w)) {
                int p = g.producerOf(w);
                if (p < 0 || !g.node(p).getOpType().equals("Transpose") || !g.isInitializer(g.node(p).getInput(0))) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "projection " + GraphIndex.describe(base)
                            + " does not read its weight from an initializer");
                }
                w = g.node(p).getInput(0);
                viaTranspose = true;
            }
            TensorProto t = g.initializer(w);
            boolean gemmT = base.getOpType().equals("Gemm") && Attrs.getInt(base, "transB", 0) != 0;
            boolean transposed = viaTranspose ^ gemmT;
            long in = transposed ? t.getDims(1) : t.getDims(0);
            long out = transposed ? t.getDims(0) : t.getDims(1);
            return new WeightRef(w, transposed, viaTranspose, in, out);
        }
    }

    WeightRef ref(NodeProto base) {
        return WeightRef.of(g, base);
    }

    /** Adds {@code delta} (row-major {@code [in,out]}) to the weight {@code base} reads. */
    void add(NodeProto base, String modulePath, double[] delta) {
        WeightRef w = WeightRef.of(g, base);
        String own = rewire.get(base.getName());
        TensorProto w0 = own != null ? addedTensor(own)
                : replaced.getOrDefault(w.initializer(), g.initializer(w.initializer()));
        int in = Math.toIntExact(w.in());
        int out = Math.toIntExact(w.out());
        if (delta.length != in * out) {
            throw new IllegalArgumentException("delta of " + delta.length + " values for a " + in + "x" + out + " weight");
        }
        boolean gemmT = base.getOpType().equals("Gemm") && Attrs.getInt(base, "transB", 0) != 0;
        // the layout of the tensor being edited: the original's, or the private copy's (read directly)
        boolean transposed = own != null ? gemmT : w.transposed();
        double[] values = Tensors.toDoubles(w0);
        float gemmAlpha = base.getOpType().equals("Gemm") ? Attrs.getFloat(base, "alpha", 1f) : 1f;
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < out; j++) {
                values[transposed ? j * in + i : i * out + j] += delta[i * out + j] / gemmAlpha;
            }
        }
        if (own != null) {
            replaceAdded(own, Tensors.ofDoubles(own, Tensors.shape(w0), values, w0.getDataType()));
            return;
        }
        boolean shared = g.consumersOf(w.initializer()).size() > 1 || w.viaTranspose();
        if (!shared) {
            replaced.put(w.initializer(), Tensors.ofDoubles(w.initializer(), Tensors.shape(w0), values,
                    w0.getDataType()));
            return;
        }
        String name = names.fresh(modulePath + ".weight");
        double[] copy = new double[in * out];
        for (int i = 0; i < in; i++) {
            for (int j = 0; j < out; j++) {
                double v = values[w.transposed() ? j * in + i : i * out + j];
                copy[gemmT ? j * in + i : i * out + j] = v;
            }
        }
        long[] dims = gemmT ? new long[] {out, in} : new long[] {in, out};
        added.add(Tensors.ofDoubles(name, dims, copy, w0.getDataType()));
        rewire.put(base.getName(), name);
    }

    /**
     * Folds one adapter into the weight {@code base} reads. The first edit of a weight is
     * built row by row straight into its dtype ({@link MergedWeight}), without whole-matrix
     * double copies; further edits of the same weight go through {@link #add}.
     */
    void addAdapter(NodeProto base, String modulePath, AdapterTensors ad) {
        WeightRef w = WeightRef.of(g, base);
        if (rewire.containsKey(base.getName()) || replaced.containsKey(w.initializer())) {
            add(base, modulePath, ad.delta());
            return;
        }
        TensorProto w0 = g.initializer(w.initializer());
        float gemmAlpha = base.getOpType().equals("Gemm") ? Attrs.getFloat(base, "alpha", 1f) : 1f;
        boolean gemmT = base.getOpType().equals("Gemm") && Attrs.getInt(base, "transB", 0) != 0;
        boolean shared = g.consumersOf(w.initializer()).size() > 1 || w.viaTranspose();
        if (shared) {
            String name = names.fresh(modulePath + ".weight");
            added.add(MergedWeight.of(name, w0, w.transposed(), ad, gemmAlpha, gemmT));
            rewire.put(base.getName(), name);
        } else {
            replaced.put(w.initializer(), MergedWeight.of(w.initializer(), w0, w.transposed(), ad, gemmAlpha,
                    w.transposed()));
        }
    }

    private TensorProto addedTensor(String name) {
        return added.stream().filter(t -> t.getName().equals(name)).findFirst().orElseThrow();
    }

    private void replaceAdded(String name, TensorProto t) {
        added.replaceAll(x -> x.getName().equals(name) ? t : x);
    }

    /**
     * The edited graph: nodes in {@code dropNodes} and initializers in {@code dropInits}
     * removed, node outputs renamed per {@code renameOutput} (node name → output 0).
     */
    GraphProto build(GraphProto graph, Set<String> dropNodes, Set<String> dropInits, Map<String, String> renameOutput) {
        GraphProto.Builder out = graph.toBuilder().clearNode().clearInitializer();
        for (NodeProto n : graph.getNodeList()) {
            if (dropNodes.contains(n.getName())) {
                continue;
            }
            String restored = renameOutput.get(n.getName());
            String weight = rewire.get(n.getName());
            if (restored == null && weight == null) {
                out.addNode(n);
                continue;
            }
            NodeProto.Builder nb = n.toBuilder();
            if (restored != null) {
                nb.setOutput(0, restored);
            }
            if (weight != null) {
                nb.setInput(1, weight);
            }
            out.addNode(nb);
        }
        for (TensorProto t : graph.getInitializerList()) {
            if (!dropInits.contains(t.getName())) {
                out.addInitializer(replaced.getOrDefault(t.getName(), t));
            }
        }
        out.addAllInitializer(added);
        return out.build();
    }
}
