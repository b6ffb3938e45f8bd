package org.onnxlora.lora;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
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
public final class BranchMergePass {
    private final boolean allowNonfinite;

    /** A pass that refuses NaN or infinite adapter values. */
    public BranchMergePass() {
        this(false);
    }

    /** @param allowNonfinite fold NaN or infinite adapter values too (they make the merged weights non-finite) */
    public BranchMergePass(boolean allowNonfinite) {
        this.allowNonfinite = allowNonfinite;
    }

    /** The merged model and the modules folded into it. */
    public record Result(ModelProto model, List<LoraBranch> merged) {}

    /**
     * Merges the adapter values stored in the model, or {@code overrides} (by tensor
     * name, e.g. {@code …q_proj.lora_A}, onnx-lora layout) where given — the adapters of
     * a training checkpoint. Overrides for modules this graph lacks are ignored here;
     * {@link BranchMerger} checks them over all files.
     */
    public Result merge(ModelProto model, Map<String, float[]> overrides) {
        GraphProto graph = model.getGraph();
        List<LoraBranch> branches = BranchFinder.find(graph);
        if (branches.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                    "the model has no LoRA branches to merge (is it the output of 'patch'?)");
        }
        GraphIndex g = new GraphIndex(graph);
        WeightEdits edits = new WeightEdits(g, new NameGen(g.allNames()));
        Set<String> dropNodes = new HashSet<>();
        Set<String> dropInits = new HashSet<>();
        Map<String, String> renameOutput = new HashMap<>(); // base node -> restored output name

        for (LoraBranch br : branches) {
            NodeProto base = g.node(g.producerOf(br.baseOutput()));
            AdapterTensors ad = withOverrides(stored(g, br), br, overrides);
            if (!allowNonfinite) {
                NonFinite.in(br.loraA(), br.loraB(), ad).ifPresent(f -> {
                    throw new OnnxLoraException(ErrorCode.DIVERGED, "adapter " + f.describe() + " (module "
                            + br.modulePath() + "); merging it would make the weights non-finite"
                            + " (--allow-nonfinite merges it anyway)");
                });
            }
            checkShape(br, ad, edits.ref(base));
            edits.addAdapter(base, br.modulePath(), ad);
            dropNodes.addAll(br.branchNodes());
            dropInits.add(br.loraA());
            dropInits.add(br.loraB());
            dropInits.add(br.scaling());
            renameOutput.put(base.getName(), br.output());
        }
        GraphProto out = edits.build(graph, dropNodes, dropInits, renameOutput);
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
        if (a.getDimsCount() != 2 || b.getDimsCount() != 2 || a.getDims(1) != b.getDims(0)
                || a.getDims(1) < 1 || a.getDims(1) > Integer.MAX_VALUE) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "LoRA factors of " + br.modulePath()
                    + " have incompatible shapes " + a.getDimsList() + " and " + b.getDimsList());
        }
        if (Tensors.elementCount(s) != 1) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "LoRA scaling '" + s.getName() + "' of "
                    + br.modulePath() + " has shape " + s.getDimsList() + ", expected a single value");
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

    private static void checkShape(LoraBranch br, AdapterTensors ad, WeightEdits.WeightRef w) {
        if (ad.in() != w.in() || ad.out() != w.out()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter of " + br.modulePath() + " is "
                    + ad.in() + "x" + ad.out() + " but its projection weight '" + w.initializer() + "' is "
                    + w.in() + "x" + w.out());
        }
    }
}
