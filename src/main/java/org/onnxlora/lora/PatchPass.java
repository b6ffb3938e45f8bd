package org.onnxlora.lora;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Inserts a LoRA branch on each targeted projection:
 *
 * <pre>
 *   Y = X·W (+b)            becomes   Y_base = X·W
 *                                     Y      = Y_base + ((X·A)·B)·scaling   (+b, unchanged, downstream)
 * </pre>
 *
 * The projection keeps its node and weight; its output is renamed and the final
 * Add takes over the old name, so every consumer (and graph outputs) is untouched.
 * A and B are new initializers named after the module path; nothing else changes.
 */
public final class PatchPass {
    static final String NAME = "lora-patch";
    private final ModelFamily family;

    public PatchPass(ModelFamily family) {
        this.family = family;
    }

    /**
     * Decides what to patch in one file and why the rest is left alone, without
     * building anything. Whether every target matched is checked over all files of
     * a model by {@link #checkTargets}: Optimum's encoder file has no cross-attention.
     */
    public PatchPlan plan(ModelProto model, Path file, LoraConfig cfg) {
        refuseIfPatched(model, file);
        Discovery d = new ProjectionFinder(family).find(model, file);
        if (d.projections().isEmpty() && d.unsupported().isEmpty()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, describe(file) + " has no attention projections"
                    + " that the '" + family.name() + "' family recognises (looked for module paths like"
                    + " model.encoder.layers.N.self_attn.q_proj in node names and metadata)");
        }
        TargetSelector targets = new TargetSelector(cfg.targets());
        List<PatchPlan.Selected> selected = new ArrayList<>();
        List<PatchPlan.Skipped> skipped = new ArrayList<>();
        for (Projection p : d.projections()) {
            String by = targets.selectedBy(p.modulePath());
            if (by == null) {
                skipped.add(new PatchPlan.Skipped(p.modulePath(), p.node(), "not selected by the targets " + targets));
                continue;
            }
            int r = cfg.rankFor(p.modulePath());
            if (r >= Math.min(p.in(), p.out())) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "rank " + r + " is not below min(in, out) = "
                        + Math.min(p.in(), p.out()) + " of " + p.modulePath() + " (" + p.in() + "x" + p.out()
                        + "); LoRA needs r << d");
            }
            selected.add(new PatchPlan.Selected(p, r, cfg.alphaFor(p.modulePath()), cfg.scalingFor(p.modulePath()), by));
        }
        for (Discovery.Refusal r : d.unsupported()) {
            skipped.add(new PatchPlan.Skipped(r.modulePath(), r.node(), "cannot be patched: " + r.reason()));
        }
        return new PatchPlan(selected, skipped, d);
    }

    /** Fails when a target spec selects nothing in any of {@code plans}, or nothing at all can be patched. */
    public static void checkTargets(LoraConfig cfg, List<PatchPlan> plans) {
        List<String> paths = new ArrayList<>();
        for (PatchPlan plan : plans) {
            plan.discovery().projections().forEach(p -> paths.add(p.modulePath()));
            plan.discovery().unsupported().forEach(r -> paths.add(r.modulePath()));
        }
        TargetSelector targets = new TargetSelector(cfg.targets());
        targets.requireAllMatch(paths);
        if (plans.stream().allMatch(p -> p.selected().isEmpty())) {
            String why = plans.stream().flatMap(p -> p.skipped().stream()).map(PatchPlan.Skipped::reason)
                    .findFirst().orElse("nothing matched");
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, Setting.TARGETS, "the targets " + targets
                    + " selects only projections that cannot be patched: " + why);
        }
    }

    /** Plans, checks the targets and applies in one go: a single model patched in memory. */
    public ModelProto patch(ModelProto model, Path file, LoraConfig cfg, AdapterSource source) {
        PatchPlan plan = plan(model, file, cfg);
        checkTargets(cfg, List.of(plan));
        return apply(model, cfg, plan, source).output();
    }

    /**
     * Applies {@code plan} to {@code model}, taking each adapter's initial values from {@code source}.
     * The result names each patched module path, and refuses each projection the plan skipped, with why.
     */
    public PassResult<ModelProto> apply(ModelProto model, LoraConfig cfg, PatchPlan plan, AdapterSource source) {
        List<PassResult.Refusal> refused = plan.skipped().stream()
                .map(s -> new PassResult.Refusal(s.modulePath(), s.reason())).toList();
        if (plan.selected().isEmpty()) {
            return new PassResult<>(NAME, model, List.of(), refused);
        }
        GraphProto graph = model.getGraph();
        GraphIndex index = new GraphIndex(graph);
        NameGen names = new NameGen(index.allNames());
        Map<String, PatchPlan.Selected> byNode = new HashMap<>();
        for (PatchPlan.Selected s : plan.selected()) {
            Projection p = s.projection();
            for (String n : List.of(p.loraA(), p.loraB(), p.scalingName())) {
                if (names.isUsed(n)) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "the model already has a value named '"
                            + n + "'; is it patched already?");
                }
            }
            byNode.put(p.node(), s);
        }
        GraphBuilder b = new GraphBuilder(names);
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (NodeProto n : graph.getNodeList()) {
            PatchPlan.Selected s = byNode.get(n.getName());
            if (s == null) {
                out.addNode(n);
                continue;
            }
            Projection p = s.projection();
            String baseOut = names.fresh(p.output() + "_base");
            out.addNode(n.toBuilder().setOutput(0, baseOut));
            AdapterTensors init = source.valuesFor(p, s.rank(), s.scaling());
            int dt = p.dataType();
            out.addInitializer(trainable(Tensors.ofDoubles(p.loraA(), new long[] {p.in(), s.rank()}, init.a(), dt)));
            out.addInitializer(trainable(Tensors.ofDoubles(p.loraB(), new long[] {s.rank(), p.out()}, init.b(), dt)));
            out.addInitializer(Tensors.scalar(p.scalingName(), s.scaling(), dt));
            names.reserve(p.loraA());
            names.reserve(p.loraB());
            names.reserve(p.scalingName());
            b.scope("/" + p.modulePath() + "/lora");
            int first = b.nodes().size();
            String xa = b.op("MatMul", p.input(), p.loraA());
            String xab = b.op("MatMul", xa, p.loraB());
            String scaled = b.op("Mul", xab, p.scalingName());
            b.add("", "Add", names.fresh(b.scope() + "/Add"), List.of(baseOut, scaled), List.of(p.output()));
            out.addAllNode(b.nodes().subList(first, b.nodes().size()));
        }
        ModelProto patched = model.toBuilder().setGraph(out).build();
        String json = LoraMetadata.toJson(LoraMetadata.of(cfg, plan.selected()));
        List<String> changed = plan.selected().stream().map(s -> s.projection().modulePath()).toList();
        return new PassResult<>(NAME, LoraMetadata.withEntry(patched, LoraMetadata.KEY, json), changed, refused);
    }

    private static TensorProto trainable(TensorProto t) {
        return t.toBuilder().setDocString("LoRA factor (trainable)")
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("onnx_lora.trainable").setValue("true"))
                .build();
    }

    private static void refuseIfPatched(ModelProto model, Path file) {
        if (LoraMetadata.read(model).isPresent()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, describe(file)
                    + " is already patched (it carries LoRA metadata); patch the base model, or merge this one first");
        }
    }

    private static String describe(Path file) {
        return file == null ? "the model" : file.toString();
    }
}
