package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * Adapter arithmetic on a plain (base or merged) model: {@code W += Σ_k c_k · scaling_k · A_k·B_k}
 * for every projection some term adapts, summed in double and rounded once to W's dtype.
 * With one term of weight 1 on a base model this is a merge of that adapter; with
 * {@code -1·A, +1·B} on a model merged with A it switches the task to B (the LoRA paper's
 * "subtract BA, add B'A'"); fractional weights blend adapters.
 */
public final class AdapterMergePass {
    static final String NAME = "adapter-merge";
    private final ModelFamily family;

    public AdapterMergePass(ModelFamily family) {
        this.family = family;
    }

    /** {@code weight · adapter}; a negative weight subtracts it. */
    public record Term(double weight, Adapter adapter) {}

    /** The projections of {@code model} that the family recognises (for checking terms over all files). */
    public Discovery discover(ModelProto model, Path file) {
        return new ProjectionFinder(family).find(model, file);
    }

    /**
     * Adds every term to the projections of {@code model} ({@code file} names it in messages and,
     * for an Optimum folder, tells which stack it is). The result names each module path whose
     * weight changed, and refuses each module a term adapts that this file cannot edit (with the
     * finder's reason) or does not have: in an Optimum folder the other files may have it.
     */
    public PassResult<ModelProto> apply(ModelProto model, Path file, List<Term> terms) {
        if (!BranchFinder.find(model.getGraph()).isEmpty() || LoraMetadata.read(model).isPresent()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, (file == null ? "the model" : file.toString())
                    + " still has LoRA branches; adapter arithmetic works on plain (base or merged) models:"
                    + " merge it first");
        }
        GraphProto graph = model.getGraph();
        GraphIndex g = new GraphIndex(graph);
        WeightEdits edits = new WeightEdits(g, new NameGen(g.allNames()));
        List<String> updated = new ArrayList<>();
        Discovery found = discover(model, file);
        Set<String> adapted = new LinkedHashSet<>();
        terms.stream().filter(t -> t.weight() != 0).forEach(t -> adapted.addAll(t.adapter().modules().keySet()));
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (Discovery.Refusal r : found.unsupported()) {
            if (adapted.remove(r.modulePath())) {
                refused.add(new PassResult.Refusal(r.modulePath(), "cannot be edited: " + r.reason()));
            }
        }
        found.projections().forEach(p -> adapted.remove(p.modulePath()));
        adapted.forEach(path -> refused.add(new PassResult.Refusal(path, "no such projection in this file")));
        for (Projection p : found.projections()) {
            double[] sum = null;
            for (Term t : terms) {
                Adapter.Module m = t.adapter().module(p.modulePath());
                if (m == null || t.weight() == 0) {
                    continue;
                }
                t.adapter().checkFits(m, p.in(), p.out());
                double[] d = m.tensors().delta();
                if (sum == null) {
                    sum = new double[d.length];
                }
                for (int i = 0; i < d.length; i++) {
                    sum[i] += t.weight() * d[i];
                }
            }
            if (sum != null) {
                edits.add(g.node(g.producerOf(p.output())), p.modulePath(), sum);
                updated.add(p.modulePath());
            }
        }
        GraphProto out = edits.build(graph, new HashSet<>(), new HashSet<>(), Map.of());
        ModelProto edited = model.toBuilder().setGraph(out).build();
        String note = "{\"modules\": " + updated.size() + ", \"by\": \"onnx-lora merge (adapter arithmetic)\"}";
        return new PassResult<>(NAME, updated.isEmpty() ? model
                : LoraMetadata.withEntry(edited, LoraMetadata.MERGED_KEY, note), updated, refused);
    }
}
