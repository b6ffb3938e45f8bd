package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.lora.Patcher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "patch", mixinStandardHelpOptions = true,
        description = {
            "Insert LoRA branches on attention projections: y = x·W + (alpha/r)·x·A·B.",
            "",
            "A starts random (PEFT's kaiming-uniform or gaussian), B at zero, so the patched model computes exactly",
            "what the base model does until it is trained. Only A and B are trainable; every other initializer",
            "is frozen (recorded in the model's 'onnx_lora' metadata). Adapters are named after the module path,",
            "e.g. model.encoder.layers.0.self_attn.q_proj.lora_A [in,r] and .lora_B [r,out].",
            "",
            "--target follows PEFT's target_modules: a name selects modules whose path ends with it (q_proj,",
            "self_attn.q_proj, encoder_attn.v_proj); a value with regex characters must match the whole path",
            "('model\\.decoder\\..*\\.(q|v)_proj'). Given an Optimum folder, every file gets the same adapters.",
            "",
            "--from-peft DIR applies an adapter trained with Hugging Face PEFT instead: exactly its modules (mapped to",
            "projections in TorchScript and dynamo exports alike) with its values and PEFT's scaling; modules the",
            "model lacks, or that target_modules selects but the safetensors file lacks, are named."},
        footer = {"", "Examples:",
            "  onnx-lora patch --model model.onnx --out patched.onnx --rank 8 --alpha 16 --target q_proj,v_proj",
            "  onnx-lora patch --model model.onnx --out p.onnx --rank 4 --target 'model\\.decoder\\..*' --dry-run",
            "  onnx-lora patch --model optimum-export/ --out optimum-lora/ --rank 8 --target q_proj,k_proj,v_proj,out_proj",
            "  onnx-lora patch --model model.onnx --from-peft peft-adapter/ --out patched.onnx"})
final class PatchCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR", description = "Base model: ONNX file or Optimum folder.")
    Path model;

    @Option(names = "--out", paramLabel = "FILE|DIR", description = "Where to write the patched model (required unless --dry-run).")
    Path out;

    @Mixin
    LoraOptions lora;

    @Option(names = "--init", defaultValue = "kaiming", description = "Initialisation of A: kaiming (PEFT default) or gaussian.")
    String init;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of A's initialisation (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--rslora", description = "Rank-stabilised scaling alpha/sqrt(r) instead of alpha/r.")
    boolean rslora;

    @Option(names = "--dry-run", description = "Print what would be patched, and why every other projection is not; write nothing.")
    boolean dryRun;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Option(names = "--family", paramLabel = "FILE", description = "Model-family description (default: built-in bart).")
    Path family;

    @Option(names = "--from-peft", paramLabel = "DIR",
            description = "Patch exactly the modules of this PEFT adapter folder, with its values, r, lora_alpha,"
                    + " use_rslora, rank_pattern and alpha_pattern (instead of --rank/--alpha/--target/--init).")
    Path fromPeft;

    @Override
    int execute() {
        if (out == null && !dryRun) {
            throw new picocli.CommandLine.ParameterException(spec.commandLine(), "Missing required option: '--out=FILE|DIR'");
        }
        LoraConfig.Init initKind = switch (init.toLowerCase(Locale.ROOT)) {
            case "kaiming", "kaiming_uniform", "default" -> LoraConfig.Init.KAIMING;
            case "gaussian", "normal" -> LoraConfig.Init.GAUSSIAN;
            default -> throw new picocli.CommandLine.ParameterException(spec.commandLine(),
                    "--init must be kaiming or gaussian, got '" + init + "'");
        };
        ModelFamily fam = family == null ? ModelFamily.bart() : ModelFamily.load(family);
        LoraConfig cfg;
        org.onnxlora.lora.AdapterSource source;
        if (fromPeft != null) {
            for (String o : List.of("--rank", "--alpha", "--target", "--init", "--seed", "--rslora")) {
                if (spec.commandLine().getParseResult().hasMatchedOption(o)) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(), o
                            + " cannot be combined with --from-peft: the PEFT adapter decides it");
                }
            }
            org.onnxlora.lora.Adapter peft = org.onnxlora.interop.PeftImport.check(model, fromPeft, fam).adapter();
            cfg = peft.patchConfig();
            source = peft;
        } else {
            cfg = lora.config(initKind, seed, rslora);
            source = new AdapterInit(initKind, seed);
        }
        if (!dryRun) {
            OutputGuard.check(out, java.nio.file.Files.isDirectory(model) ? OutputGuard.Kind.FOLDER : OutputGuard.Kind.MODEL,
                    force, org.onnxlora.api.TrainingRun.inputsOf(model, fromPeft, family));
        }
        Patcher patcher = new Patcher(fam, output.progress());
        Patcher.Report report = dryRun ? patcher.plan(model, out, cfg)
                : patcher.patch(model, out, cfg, source, Overwrite.of(force));
        for (Patcher.FileResult f : report.files()) {
            printPlan(f);
        }
        long trainable = report.files().stream().flatMap(f -> f.plan().selected().stream())
                .mapToLong(s -> (s.projection().in() + s.projection().out()) * s.rank()).sum();
        if (dryRun) {
            output.result("dry run: would patch %d projections (%,d trainable parameters per file set); nothing written",
                    report.patchedCount(), trainable);
        } else {
            output.result("patched %d projections (r=%d, alpha=%s, %,d trainable parameters) -> %s",
                    report.patchedCount(), cfg.rank(), InspectCommand.num(cfg.alpha()), trainable, out);
        }
        return 0;
    }

    private void printPlan(Patcher.FileResult f) {
        PatchPlan plan = f.plan();
        boolean show = dryRun || output.verbose;
        output.info("%s: %d to patch, %d left alone (exporter: %s)", f.source(), plan.selected().size(),
                plan.skipped().size(), plan.discovery().flavor().description());
        if (!show) {
            return;
        }
        for (PatchPlan.Selected s : plan.selected()) {
            output.result("  patch  %-46s %-24s %dx%d r=%d scale=%s (matched '%s')", s.projection().modulePath(),
                    s.projection().role(), s.projection().in(), s.projection().out(), s.rank(),
                    InspectCommand.num(s.scaling()), s.selectedBy());
        }
        for (PatchPlan.Skipped s : plan.skipped()) {
            output.result("  skip   %-46s %s", s.modulePath(), s.reason());
        }
    }
}
