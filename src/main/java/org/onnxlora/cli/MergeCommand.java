package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.onnxlora.lora.Merger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {
            "Fold trained adapters into the weights, W = W0 + (alpha/r)·A·B, and remove every LoRA node.",
            "",
            "The result is a plain inference model with the base model's nodes and signature; it runs in any",
            "ONNX runtime at the base model's speed. The update is accumulated in double precision and rounded",
            "once to the weight's dtype (fp32, fp16 or bf16). Shared (tied) weights are left intact: the merged",
            "projection gets its own copy."},
        footer = {"", "Example:", "  onnx-lora merge --model patched.onnx --out merged.onnx"})
final class MergeCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR", description = "Patched model (output of patch or train).")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "FILE|DIR", description = "Where to write the merged model.")
    Path out;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Override
    int execute() {
        List<Merger.FileResult> results = new Merger(output.progress()).merge(model, out, Map.of(), force);
        int n = 0;
        for (Merger.FileResult r : results) {
            output.info("%s: merged %d adapters -> %s", r.source(), r.merged().size(), r.target());
            r.merged().forEach(b -> output.detail("  merged %s", b.modulePath()));
            n += r.merged().size();
        }
        output.result("merged %d adapters -> %s", n, out);
        return 0;
    }
}
