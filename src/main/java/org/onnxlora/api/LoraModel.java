package org.onnxlora.api;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.generate.Generator;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * A model file or Optimum folder on disk, and what a program does with it after training: fold
 * trained adapters into it ({@link #merge}) and generate text with it ({@link #generate}).
 * Training itself is {@link TrainingRun}, which patches a base model on the fly.
 */
public final class LoraModel {
    private final Path path;

    private LoraModel(Path path) {
        this.path = path;
    }

    /** The model at {@code path} (a .onnx file or an Optimum folder); fails if there is none. */
    public static LoraModel open(Path path) {
        if (!Files.exists(path)) {
            throw new OnnxLoraException(ErrorCode.IO, "model " + path + " does not exist");
        }
        return new LoraModel(path);
    }

    public Path path() {
        return path;
    }

    /**
     * Folds the adapters trained in {@code adapters} (a run folder, a checkpoint or an adapters file)
     * into this patched model and writes a plain model to {@code out}, replacing it if it exists.
     */
    public LoraModel merge(Path adapters, Path out) {
        new BranchMerger(Progress.NONE).merge(path, out, TrainingRun.adapters(adapters), Overwrite.REPLACE);
        return new LoraModel(out);
    }

    /** Generates a completion of each source text, greedy or by beam search as {@code config} says. */
    public List<String> generate(Path tokenizer, List<String> sources, int maxSourceLength, GenerationConfig config,
            RuntimeOptions runtime) {
        try (TextTokenizer tok = TextTokenizer.load(tokenizer); Generator g = Generator.open(path, config, runtime)) {
            List<long[]> out = g.generate(tok.encodeAll(sources, maxSourceLength));
            return out.stream().map(ids -> tok.decode(ids, true).strip()).toList();
        }
    }
}
