package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
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
    private final ModelFamily family;

    public AdapterMergePass(ModelFamily family) {
        this.family = family;
    }

    /** {@code weight · adapter}; a negative weight subtracts it. */
    public record Term(double weight, Adapter adapter) {}

    /** The edited model and the module paths whose weights changed. */
    public record Result(ModelProto model, List<String> updated) {}

    /** The projections of {@code model} that the family recognises (for checking terms over all files). */
    public Discovery discover(ModelProto model, Path file) {
        return new ProjectionFinder(family).find(model, file);
    }

    public Result apply(ModelProto model, Path file, List<Term> terms) {
        if (!BranchFinder.find(model.getGraph()).isEmpty() || LoraMetadata.read(model).isPresent()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, (file == null ? "the model" : file.toString())
                    + " still has LoRA branches; adapter arithmetic works on plain (base or merged) models:"
                    + " merge it first");
        }
        GraphProto graph = model.getGraph();
        GraphIndex g = new GraphIndex(graph);
        WeightEdits edits = new WeightEdits(g, new NameGen(g.allNames()));
        List<String> updated = new ArrayList<>();
        for (Projection p : discover(model, file).projections()) {
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
        return new Result(updated.isEmpty() ? model : LoraMetadata.withEntry(edited, LoraMetadata.MERGED_KEY, note),
                updated);
    }
}
