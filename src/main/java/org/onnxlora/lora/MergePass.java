package org.onnxlora.lora;

import java.util.HashMap;
import java.util.HashSet;
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
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Folds every LoRA branch into its projection's weight, {@code W = W0 + scaling·A·B}
 * (accumulated in double, rounded once to W0's dtype, row by row: {@link MergedWeight}),
 * and removes the branch: the
 * result has the base model's nodes, op histogram and inputs/outputs.
 *
 * <p>A weight that other nodes also read (tied or shared) is not modified; the
 * merged projection gets its own copy instead, so only the targeted use changes.
 */
public final class MergePass {

    /** The merged model and the modules folded into it. */
    public record Result(ModelProto model, List<LoraBranch> merged) {}

    /**
     * Merges the adapter values stored in the model, or {@code overrides} (by tensor
     * name, e.g. {@code …q_proj.lora_A}, onnx-lora layout) where given — the adapters of
     * a training checkpoint. Overrides for modules this graph lacks are ignored here;
     * {@link Merger} checks them over all files.
     */
    public Result merge(ModelProto model, Map<String, float[]> overrides) {
        GraphProto graph = model.getGraph();
        List<LoraBranch> branches = BranchFinder.find(graph);
        if (branches.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                    "the model has no LoRA branches to merge (is it the output of 'patch'?)");
        }
        GraphIndex g = new GraphIndex(graph);
        NameGen names = new NameGen(g.allNames());
        Set<String> dropNodes = new HashSet<>();
        Set<String> dropInits = new HashSet<>();
        Map<String, String> renameOutput = new HashMap<>(); // base node -> restored output name
        Map<String, TensorProto> replaced = new HashMap<>(); // initializer name -> merged tensor
        Map<String, String> rewireWeight = new HashMap<>(); // base node -> private merged weight
        java.util.List<TensorProto> added = new java.util.ArrayList<>();

        for (LoraBranch br : branches) {
            NodeProto base = g.node(g.producerOf(br.baseOutput()));
            AdapterTensors ad = withOverrides(stored(g, br), br, overrides);
            WeightRef w = WeightRef.of(g, base);
            TensorProto w0 = replaced.getOrDefault(w.initializer(), g.initializer(w.initializer()));
            checkShape(br, ad, w);
            float gemmAlpha = base.getOpType().equals("Gemm") ? Attrs.getFloat(base, "alpha", 1f) : 1f;
            boolean shared = g.consumersOf(w.initializer()).size() > 1 || w.viaTranspose();
            if (shared) {
                // Give this projection its own weight, in the layout the node reads directly.
                String name = names.fresh(br.modulePath() + ".weight");
                boolean gemmT = base.getOpType().equals("Gemm") && Attrs.getInt(base, "transB", 0) != 0;
                added.add(MergedWeight.of(name, w0, w.transposed(), ad, gemmAlpha, gemmT));
                rewireWeight.put(base.getName(), name);
            } else {
                replaced.put(w.initializer(), MergedWeight.of(w.initializer(), w0, w.transposed(), ad, gemmAlpha,
                        w.transposed()));
            }
            dropNodes.addAll(br.branchNodes());
            dropInits.add(br.loraA());
            dropInits.add(br.loraB());
            dropInits.add(br.scaling());
            renameOutput.put(base.getName(), br.output());
        }

        GraphProto.Builder out = graph.toBuilder().clearNode().clearInitializer();
        for (NodeProto n : graph.getNodeList()) {
            if (dropNodes.contains(n.getName())) {
                continue;
            }
            String restored = renameOutput.get(n.getName());
            String weight = rewireWeight.get(n.getName());
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
        ModelProto merged = model.toBuilder().setGraph(out).build();
        merged = LoraMetadata.withEntry(merged, LoraMetadata.KEY, null);
        String note = "{\"modules\": " + branches.size() + ", \"by\": \"onnx-lora merge\"}";
        return new Result(LoraMetadata.withEntry(merged, LoraMetadata.MERGED_KEY, note), branches);
    }

    /** The adapter values stored in the patched model itself. */
    static AdapterTensors stored(GraphIndex g, LoraBranch br) {
        TensorProto a = g.initializer(br.loraA());
        TensorProto b = g.initializer(br.loraB());
        TensorProto s = g.initializer(br.scaling());
        if (a.getDimsCount() != 2 || b.getDimsCount() != 2 || a.getDims(1) != b.getDims(0)) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "LoRA factors of " + br.modulePath()
                    + " have incompatible shapes " + a.getDimsList() + " and " + b.getDimsList());
        }
        return new AdapterTensors(a.getDims(0), b.getDims(1), (int) a.getDims(1), Tensors.toDoubles(s)[0],
                Tensors.toDoubles(a), Tensors.toDoubles(b));
    }

    private static AdapterTensors withOverrides(AdapterTensors ad, LoraBranch br, Map<String, float[]> overrides) {
        double[] a = override(ad.a(), br.loraA(), overrides);
        double[] b = override(ad.b(), br.loraB(), overrides);
        return a == ad.a() && b == ad.b() ? ad : new AdapterTensors(ad.in(), ad.out(), ad.rank(), ad.scaling(), a, b);
    }

    private static double[] override(double[] stored, String name, Map<String, float[]> overrides) {
        float[] v = overrides.get(name);
        if (v == null) {
            return stored;
        }
        if (v.length != stored.length) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter tensor '" + name + "' has " + v.length
                    + " values but the model's has " + stored.length + " (different rank or model?)");
        }
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    private static void checkShape(LoraBranch br, AdapterTensors ad, WeightRef w) {
        if (ad.in() != w.in() || ad.out() != w.out()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter of " + br.modulePath() + " is "
                    + ad.in() + "x" + ad.out() + " but its projection weight '" + w.initializer() + "' is "
                    + w.in() + "x" + w.out());
        }
    }

    /** Where a projection's weight lives and how it is laid out. */
    private record WeightRef(String initializer, boolean transposed, boolean viaTranspose, long in, long out) {
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
}
