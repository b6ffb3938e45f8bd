package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.onnxlora.io.Json;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.lora.ModelSummary;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {
            "Show a model's inputs, outputs, size, exporter, and the attention projections LoRA can target.",
            "",
            "Each projection is listed by its Hugging Face module path (model.encoder.layers.0.self_attn.q_proj),",
            "which is what --target matches. For an Optimum folder, every .onnx file in it is inspected."},
        footer = {"", "Examples:", "  onnx-lora inspect --model models/tiny-bart/model.onnx",
            "  onnx-lora inspect --model models/tiny-bart/optimum --json | jq '.[0].projections[].module'"})
final class InspectCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR", description = "ONNX file or Optimum export folder.")
    Path model;

    @Option(names = "--json", description = "Print one JSON document (an array with one object per file).")
    boolean json;

    @Option(names = "--family", paramLabel = "FILE", description = "Model-family description (default: built-in bart).")
    Path family;

    @Override
    int execute() {
        ModelFamily fam = family == null ? ModelFamily.bart() : ModelFamily.load(family);
        ModelFiles files = ModelFiles.of(model);
        List<ModelSummary> summaries = new ArrayList<>();
        for (Path f : files.onnxFiles()) {
            summaries.add(ModelSummary.of(ModelIO.load(f), f, fam, files.directory()));
        }
        if (json) {
            output.result("%s", Json.builder().setPrettyPrinting().disableHtmlEscaping().serializeNulls().create()
                    .toJson(summaries));
            return 0;
        }
        for (ModelSummary s : summaries) {
            print(s);
        }
        return 0;
    }

    private void print(ModelSummary s) {
        output.result("model        %s", s.file());
        output.result("exporter     %s", s.exporter());
        output.result("producer     %s", s.producer());
        output.result("ir / opsets  %d / %s", s.irVersion(), s.opsets());
        for (ModelSummary.Value v : s.inputs()) {
            output.result("input        %-28s %s %s", v.name(), v.type(), v.shape());
        }
        for (ModelSummary.Value v : s.outputs()) {
            output.result("output       %-28s %s %s", v.name(), v.type(), v.shape());
        }
        output.result("parameters   %,d (%s) in %d initializers; %d nodes", s.parameters(),
                Durations.bytes(s.parameterBytes()), s.initializers(), s.nodes());
        if (s.lora() != null) {
            long trainable = s.lora().modules().stream().mapToLong(m -> (m.in() + m.out()) * m.rank()).sum();
            output.result("LoRA         patched: %d modules, r=%d, alpha=%s, %,d trainable parameters (%.3f%%)",
                    s.lora().modules().size(), s.lora().rank(), num(s.lora().alpha()), trainable,
                    100.0 * trainable / Math.max(1, s.parameters() - trainable));
        } else {
            output.result("LoRA         not patched");
        }
        output.result("");
        output.result("attention projections (%d):", s.projections().size());
        output.result("  %-46s %-24s %-11s %-7s %s", "module", "role", "in x out", "dtype", "weight / bias");
        for (ModelSummary.ProjectionRow p : s.projections()) {
            output.result("  %-46s %-24s %-11s %-7s %s / %s%s", p.module(), p.role(), p.in() + "x" + p.out(),
                    p.dtype(), p.weight(), p.bias() == null ? "-" : p.bias(), p.sharedWeight() ? " (shared weight)" : "");
        }
        s.unsupported().forEach(r -> output.result("  %-46s not patchable: %s", r.modulePath(), r.reason()));
        if (!s.otherLinears().isEmpty()) {
            Map<String, Integer> counts = new TreeMap<>();
            s.otherLinears().forEach(l -> counts.merge(l.substring(l.lastIndexOf('.') + 1), 1, Integer::sum));
            output.result("other linear layers (not attention, not targeted): %s", counts);
        }
        output.result("");
    }

    static String num(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
