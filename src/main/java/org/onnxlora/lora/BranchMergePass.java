package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
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
    static final String NAME = "lora-merge";
    private final NonFinitePolicy nonFinite;

    /** A pass that refuses NaN or infinite adapter values. */
    public BranchMergePass() {
        this(NonFinitePolicy.REFUSE);
    }

    public BranchMergePass(NonFinitePolicy nonFinite) {
        this.nonFinite = nonFinite;
    }

    /**
     * Merges the adapter values stored in the model, or {@code overrides} (by tensor
     * name, e.g. {@code …q_proj.lora_A}, onnx-lora layout) where given — the adapters of
     * a training checkpoint. Overrides for modules this graph lacks are ignored here;
     * {@link BranchMerger} checks them over all files.
     *
     * <p>The result names each merged module path, and refuses each {@code *.lora_A}/{@code *.lora_B}
     * initializer that is not part of a recognised branch: it stays in the merged model unmerged.
     */
    public PassResult<ModelProto> apply(ModelProto model, AdapterValues overrides) {
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
        List<String> merged = new ArrayList<>();

        for (LoraBranch br : branches) {
            NodeProto base = g.node(g.producerOf(br.baseOutput()));
            AdapterTensors ad = BranchTensors.of(g, br, overrides);
            if (nonFinite == NonFinitePolicy.REFUSE) {
                NonFinite.in(br.loraA(), br.loraB(), ad).ifPresent(f -> {
                    throw new OnnxLoraException(ErrorCode.DIVERGED, Setting.ALLOW_NONFINITE, "adapter " + f.describe()
                            + " (module " + br.modulePath() + "); merging it would make the weights non-finite");
                });
            }
            checkShape(br, ad, edits.ref(base));
            edits.addAdapter(base, br.modulePath(), ad);
            dropNodes.addAll(br.branchNodes());
            dropInits.add(br.loraA());
            dropInits.add(br.loraB());
            dropInits.add(br.scaling());
            renameOutput.put(base.getName(), br.output());
            merged.add(br.modulePath());
        }
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (TensorProto t : graph.getInitializerList()) {
            String n = t.getName();
            if ((n.endsWith(".lora_A") || n.endsWith(".lora_B")) && !dropInits.contains(n)) {
                refused.add(new PassResult.Refusal(n, "not part of a branch Add(base, Mul(MatMul(MatMul(X, A), B), s));"
                        + " left in the model unmerged"));
            }
        }
        GraphProto out = edits.build(graph, dropNodes, dropInits, renameOutput);
        ModelProto result = model.toBuilder().setGraph(out).build();
        result = LoraMetadata.withEntry(result, LoraMetadata.KEY, null);
        String note = "{\"modules\": " + branches.size() + ", \"by\": \"onnx-lora merge\"}";
        return new PassResult<>(NAME, LoraMetadata.withEntry(result, LoraMetadata.MERGED_KEY, note), merged, refused);
    }

    private static void checkShape(LoraBranch br, AdapterTensors ad, WeightEdits.WeightRef w) {
        if (ad.in() != w.in() || ad.out() != w.out()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, "adapter of " + br.modulePath() + " is "
                    + ad.in() + "x" + ad.out() + " but its projection weight '" + w.initializer() + "' is "
                    + w.in() + "x" + w.out());
        }
    }
}
