package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.interop.AdapterFiles;
import org.onnxlora.interop.PeftImport;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.AdapterMergePass;
import org.onnxlora.lora.AdapterMerger;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.NonFinite;
import org.onnxlora.lora.NonFinitePolicy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(name = "merge", mixinStandardHelpOptions = true,
        description = {
            "Fold trained adapters into the weights, W = W0 + (alpha/r)·A·B, and remove every LoRA node.",
            "",
            "The result is a plain inference model with the base model's nodes and signature; it runs in any",
            "ONNX runtime at the base model's speed. The update is accumulated in double precision and rounded",
            "once to the weight's dtype (fp32, fp16 or bf16). Shared (tied) weights are left intact: the merged",
            "projection gets its own copy.",
            "",
            "Adapter arithmetic on a plain (base or merged) model: --peft DIR merges a PEFT adapter into the base",
            "model; --subtract A --add B switches a model merged with A to task B (W - (alpha/r)·A_A·B_A +",
            "(alpha'/r')·A_B·B_B, summed in double, rounded once); --add a:0.5 --add b:0.5 blends adapters.",
            "Adapters are train run folders, checkpoint folders, adapters .safetensors (inside a run), patched",
            ".onnx models or PEFT folders. Subtracting from a model stored in fp16 keeps its rounding error;",
            "merging into the original base does not (see docs/interop.md)."},
        footer = {"", "Examples:", "  onnx-lora merge --model patched.onnx --out merged.onnx",
            "  onnx-lora merge --model run1/model.onnx --adapter run1 --out merged.onnx",
            "  onnx-lora merge --model model.onnx --peft peft-adapter/ --out merged.onnx",
            "  onnx-lora merge --model task_a.onnx --subtract runA --add runB --out task_b.onnx",
            "  onnx-lora merge --model model.onnx --add runA:0.5 --add runB:0.5 --out blend.onnx"})
final class MergeCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR",
            description = "Patched model (output of patch or train); with --peft/--add/--subtract a plain base or merged model.")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "FILE|DIR", description = "Where to write the merged model.")
    Path out;

    @Option(names = "--adapter", paramLabel = "RUN|DIR|FILE",
            description = "Adapters to fold instead of those stored in the model: a train run folder (its latest"
                    + " checkpoint), a checkpoint folder, or an adapters .safetensors file.")
    Path adapter;

    @Option(names = "--peft", paramLabel = "DIR",
            description = "Merge this PEFT adapter folder into the plain model --model (unknown or missing modules are named).")
    Path peft;

    @Option(names = "--add", paramLabel = "ADAPTER[:WEIGHT]",
            description = "Add an adapter's update, times WEIGHT (default 1); repeatable.")
    List<String> add = new ArrayList<>();

    @Option(names = "--subtract", paramLabel = "ADAPTER[:WEIGHT]",
            description = "Subtract an adapter's update (one merged earlier), times WEIGHT (default 1); repeatable.")
    List<String> subtract = new ArrayList<>();

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Option(names = "--family", paramLabel = "FILE", description = "Model-family description (default: built-in bart).")
    Path family;

    @Option(names = "--allow-nonfinite",
            description = "Merge adapters holding NaN or infinite values (a diverged run's); they are refused by"
                    + " default because they make the merged weights non-finite.")
    boolean allowNonfinite;

    @Override
    int execute() {
        List<Path> inputs = new ArrayList<>(org.onnxlora.api.TrainingRun.inputsOf(model, adapter, peft, family));
        for (String s : subtract) {
            inputs.addAll(org.onnxlora.api.TrainingRun.inputsOf(termPath(s, "--subtract").path()));
        }
        for (String s : add) {
            inputs.addAll(org.onnxlora.api.TrainingRun.inputsOf(termPath(s, "--add").path()));
        }
        OutputGuard.check(out, java.nio.file.Files.isDirectory(model) ? OutputGuard.Kind.FOLDER : OutputGuard.Kind.MODEL,
                force, inputs);
        if (peft == null && add.isEmpty() && subtract.isEmpty()) {
            org.onnxlora.lora.AdapterValues overrides = adapter == null ? org.onnxlora.lora.AdapterValues.none() : org.onnxlora.api.TrainingRun.adapters(adapter);
            List<BranchMerger.FileResult> results = new BranchMerger(output.progress()).merge(model, out, overrides,
                    Overwrite.of(force), allowNonfinite ? NonFinitePolicy.ALLOW : NonFinitePolicy.REFUSE);
            int n = 0;
            for (BranchMerger.FileResult r : results) {
                output.info("%s: merged %d adapters -> %s", r.source(), r.merged().size(), r.target());
                r.merged().forEach(m -> output.detail("  merged %s", m));
                r.refused().forEach(x -> output.detail("  left alone %s", x));
                n += r.merged().size();
            }
            output.result("merged %d adapters -> %s", n, out);
            return 0;
        }
        if (adapter != null) {
            throw new ParameterException(spec.commandLine(),
                    "--adapter folds a patched model's own branches; it cannot be combined with --peft/--add/--subtract");
        }
        ModelFamily fam = family == null ? ModelFamily.bart() : ModelFamily.load(family);
        List<AdapterMergePass.Term> terms = new ArrayList<>();
        if (peft != null) {
            terms.add(new AdapterMergePass.Term(1, PeftImport.check(model, peft, fam).adapter()));
        }
        for (String s : subtract) {
            terms.add(term(s, -1, "--subtract", fam));
        }
        for (String s : add) {
            terms.add(term(s, 1, "--add", fam));
        }
        if (!allowNonfinite) {
            for (AdapterMergePass.Term t : terms) {
                NonFinite.in(t.adapter()).ifPresent(f -> {
                    throw new OnnxLoraException(ErrorCode.DIVERGED, t.adapter().origin() + ": adapter " + f.describe()
                            + "; merging it would make the weights non-finite (--allow-nonfinite merges it anyway)");
                });
            }
        }
        List<AdapterMerger.FileResult> results = new AdapterMerger(fam, output.progress()).merge(model, out, terms,
                Overwrite.of(force));
        int n = 0;
        for (AdapterMerger.FileResult r : results) {
            output.info("%s: updated %d projections -> %s", r.source(), r.updated().size(), r.target());
            r.updated().forEach(p -> output.detail("  updated %s", p));
            r.refused().forEach(x -> output.detail("  left alone %s", x));
            n += r.updated().size();
        }
        output.result("updated %d projections with %d adapter term(s) -> %s", n, terms.size(), out);
        return 0;
    }

    private AdapterMergePass.Term term(String spec, double sign, String flag, ModelFamily fam) {
        TermPath t = termPath(spec, flag);
        return new AdapterMergePass.Term(sign * t.weight(), AdapterFiles.load(t.path(), null, fam));
    }

    private record TermPath(Path path, double weight) {}

    /** ADAPTER[:WEIGHT]: a path that exists is taken whole, so a ':' in a file name is no weight. */
    private TermPath termPath(String spec, String flag) {
        Path path = Path.of(spec);
        double weight = 1;
        int colon = spec.lastIndexOf(':');
        if (colon > 0 && !java.nio.file.Files.exists(path)) {
            try {
                weight = Double.parseDouble(spec.substring(colon + 1));
                path = Path.of(spec.substring(0, colon));
            } catch (NumberFormatException e) {
                throw new ParameterException(this.spec.commandLine(), flag + " '" + spec
                        + "': the part after ':' must be a number (a weight)");
            }
            if (!Double.isFinite(weight)) {
                throw new ParameterException(this.spec.commandLine(), flag + " '" + spec + "': weight must be finite");
            }
        }
        return new TermPath(path, weight);
    }
}
