package org.onnxlora.generate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * Generates token ids with a BART-style seq2seq ONNX model, greedy or by beam search.
 *
 * <p>{@link #open} takes either one {@code .onnx} file with inputs {@code input_ids,
 * attention_mask, decoder_input_ids} and output {@code logits} (the export onnx-lora
 * trains on, and what patch and merge write) — every step then re-runs the whole model —
 * or an Optimum folder ({@code encoder_model.onnx}, {@code decoder_model.onnx} and
 * optionally {@code decoder_with_past_model.onnx}), which encodes once and decodes with a
 * key/value cache. Both give the same tokens for the same weights.
 *
 * <p>Examples in one call are decoded together (sources padded to the longest) and do not
 * influence each other: each result equals what the example alone would produce, up to
 * float rounding in the padded matrix products. Not thread-safe; one generator per thread.
 */
public final class Generator implements AutoCloseable {
    private final StepModel model;
    private final GenerationConfig config;

    private Generator(StepModel model, GenerationConfig config) {
        this.model = model;
        this.config = config;
    }

    /** Opens a single full model ({@code .onnx} file) or an Optimum export folder. */
    public static Generator open(Path model, GenerationConfig config, RuntimeOptions options) {
        if (Files.isDirectory(model)) {
            if (!CachedSteps.isOptimumFolder(model)) {
                throw new OnnxLoraException(ErrorCode.IO, model + " is a folder without " + CachedSteps.ENCODER
                        + " and " + CachedSteps.DECODER + "; pass a model file or an Optimum export folder");
            }
            return new Generator(new CachedSteps(model, options), config);
        }
        if (!Files.isRegularFile(model)) {
            throw new OnnxLoraException(ErrorCode.IO, "model " + model + " does not exist");
        }
        return new Generator(new FullModelSteps(model, options), config);
    }

    /** With the configuration given at {@link #open}. */
    public List<long[]> generate(List<long[]> sourceIdsBatch) {
        return generate(sourceIdsBatch, config);
    }

    /**
     * Generates for every source (token ids as the tokenizer gives them, typically {@code <s> … </s>}).
     *
     * @return per example, in order, the generated ids without the decoder start token, ending with
     *     EOS when the model produced it within {@code maxNewTokens}; no padding
     */
    public List<long[]> generate(List<long[]> sourceIdsBatch, GenerationConfig config) {
        SourceBatch sources = SourceBatch.of(sourceIdsBatch, config.padTokenId());
        return config.numBeams() == 1
                ? GreedySearch.run(model, sources, config)
                : BeamSearch.run(model, sources, config);
    }

    /** Whether decoding uses a key/value cache (an Optimum folder with {@code decoder_with_past_model.onnx}). */
    public boolean usesCache() {
        return model.cached();
    }

    public GenerationConfig config() {
        return config;
    }

    @Override
    public void close() {
        model.close();
    }
}
