package org.onnxlora.cli;

import java.nio.file.Path;
import org.onnxlora.api.CompileOptions;
import org.onnxlora.api.Compilation;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.train.Precision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "compile", mixinStandardHelpOptions = true,
        description = {
            "Compile a patched model into training artifacts that stock ONNX Runtime runs (train does this itself).",
            "",
            "Writes training_model.onnx (forward + loss + adapter gradients), eval_model.onnx (forward + loss +",
            "logits), optimizer_model.onnx (AdamW with bias correction, decoupled weight decay and global-norm",
            "clipping), step_model.onnx (training + AdamW as one graph: train's step when it is one batch on one",
            "device), frozen_weights.data (the base weights, stored once and referenced by the forward models),",
            "initial_adapters.safetensors and artifacts.json. Every graph opens in Netron.",
            "The backward is built from ordinary ONNX ops, one gradient rule per op type; an op without a rule on",
            "the path from the adapters to the loss is reported with the node that uses it."},
        footer = {"", "Example:", "  onnx-lora compile --model patched.onnx --out artifacts/"})
final class CompileCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "Patched model (output of patch).")
    Path model;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the artifacts.")
    Path out;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Mixin
    TrainingOptions training;

    @Override
    int execute() {
        Compilation c = Compilation.compile(model, out, training.compilerOptions(ModelFamily.bart()), force);
        output.result("compiled %d adapters (%,d trainable parameters): training %d nodes, eval %d nodes, optimizer %d"
                + " nodes -> %s", c.adapters(), c.trainableParameters(), c.trainingNodes(), c.evalNodes(),
                c.optimizerNodes(), out);
        return 0;
    }

    /** Loss and optimizer flags shared by compile, train and bench-train. */
    static final class TrainingOptions {
        @Option(names = "--label-smoothing", defaultValue = "0", description = "Label smoothing epsilon (default: ${DEFAULT-VALUE}).")
        double labelSmoothing;

        @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW decoupled weight decay (default: ${DEFAULT-VALUE}).")
        double weightDecay;

        @Option(names = "--max-grad-norm", defaultValue = "1.0", description = "Global gradient-norm clip; 0 disables (default: ${DEFAULT-VALUE}).")
        double maxGradNorm;

        @Option(names = "--adam-betas", split = ",", defaultValue = "0.9,0.999", description = "Adam beta1,beta2 (default: ${DEFAULT-VALUE}).")
        double[] betas;

        @Option(names = "--adam-eps", defaultValue = "1e-8", description = "Adam epsilon (default: ${DEFAULT-VALUE}).")
        double eps;

        @Option(names = "--precision", defaultValue = "fp32", paramLabel = "P",
                description = "fp32, tf32, bf16 or fp16 (default: ${DEFAULT-VALUE}). bf16/fp16 store the frozen weights"
                        + " in that type and compute the matrix products in it, with float32 adapters, optimizer state,"
                        + " softmax, LayerNorm and loss; fp16 adds dynamic loss scaling. bf16 needs a CUDA GPU"
                        + " (compute capability 8.0+); tf32 is float32 with TF32 matrix products on CUDA.")
        String precision;

        @Option(names = "--logits", paramLabel = "NAME",
                description = "Name of the logits output (default: the model family's logits_output, 'logits' for BART).")
        String logits;

        @Option(names = "--recompute", defaultValue = "none", paramLabel = "none|attention",
                description = "attention: the backward recomputes the attention probabilities (one score product and"
                        + " softmax per attention layer) instead of keeping them from the forward, as PyTorch's SDPA"
                        + " does: less GPU memory (bart-base, batch 32, 128 source tokens: ~200 MB less kept) for a"
                        + " little more compute (default: ${DEFAULT-VALUE}).")
        String recompute;

        /** The logits output: the flag, else the family's. */
        String logits(ModelFamily family) {
            return logits != null ? logits : family.logitsOutput();
        }

        /** The precision; {@code tf32Alias} is the older --tf32 switch, the same as --precision tf32. */
        Precision precision(boolean tf32Alias) {
            Precision p = Precision.parse(precision);
            if (tf32Alias && p != Precision.FP32 && p != Precision.TF32) {
                throw new org.onnxlora.OnnxLoraException(org.onnxlora.ErrorCode.BAD_ARGUMENT, "--tf32 means --precision"
                        + " tf32; it cannot be combined with --precision " + p.label());
            }
            return tf32Alias ? Precision.TF32 : p;
        }

        CompileOptions compilerOptions(ModelFamily family) {
            if (betas.length != 2) {
                throw new org.onnxlora.OnnxLoraException(org.onnxlora.ErrorCode.BAD_ARGUMENT, "--adam-betas takes two values");
            }
            return CompileOptions.of(labelSmoothing, betas, eps, weightDecay, maxGradNorm, logits(family),
                    Precision.parse(precision)).withRecompute(org.onnxlora.autodiff.Recompute.parse(recompute));
        }
    }
}
