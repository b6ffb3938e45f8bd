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
        footer = {"", "Examples:", "  onnx-lora merge --model patched.onnx --out merged.onnx",
            "  onnx-lora merge --model run1/model.onnx --adapter run1 --out merged.onnx"})
final class MergeCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR", description = "Patched model (output of patch or train).")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "FILE|DIR", description = "Where to write the merged model.")
    Path out;

    @Option(names = "--adapter", paramLabel = "RUN|DIR|FILE",
            description = "Adapters to fold instead of those stored in the model: a train run folder (its latest"
                    + " checkpoint), a checkpoint folder, or an adapters .safetensors file.")
    Path adapter;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Override
    int execute() {
        Map<String, float[]> overrides = adapter == null ? Map.of() : org.onnxlora.train.Checkpoint.adapters(adapter);
        List<Merger.FileResult> results = new Merger(output.progress()).merge(model, out, overrides, force);
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
