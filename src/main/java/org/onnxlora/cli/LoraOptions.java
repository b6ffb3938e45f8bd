package org.onnxlora.cli;

import java.util.List;
import org.onnxlora.lora.LoraConfig;
import picocli.CommandLine.Option;

/** The LoRA shape flags shared by patch, train and bench-train. */
final class LoraOptions {
    @Option(names = {"-r", "--rank"}, defaultValue = "8", description = "LoRA rank r (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--alpha", defaultValue = "16", description = "LoRA alpha; the update is scaled by alpha/r (default: ${DEFAULT-VALUE}).")
    double alpha;

    @Option(names = {"-t", "--target"}, split = ",", defaultValue = "q_proj,v_proj",
            description = "Modules to adapt, PEFT-style names or regexes, comma-separated (default: ${DEFAULT-VALUE}).")
    List<String> targets;

    LoraConfig config(LoraConfig.Init init, long seed, boolean rslora) {
        return new LoraConfig(rank, alpha, targets, init, seed, rslora, java.util.Map.of(), java.util.Map.of());
    }
}
