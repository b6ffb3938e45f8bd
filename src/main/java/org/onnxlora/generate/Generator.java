package org.onnxlora.generate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;

/**
 * Generates token ids with a BART-style seq2seq ONNX model, greedy or by beam search.
 *
 * <p>{@link #open} takes either one {@code .onnx} encoder-decoder file (the export onnx-lora
 * trains on, and what patch and merge write; its inputs and logits as its
 * {@link Seq2SeqSignature} names them) — every step then re-runs the whole model —
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

    /** Opens a single full model ({@code .onnx} file) or an Optimum export folder of the BART family. */
    public static Generator open(Path model, GenerationConfig config, RuntimeOptions options) {
        return open(model, config, options, ModelFamily.bart());
    }

    /** Opens a model whose inputs and outputs {@code family} names. */
    public static Generator open(Path model, GenerationConfig config, RuntimeOptions options, ModelFamily family) {
        if (Files.isDirectory(model)) {
            if (!CachedSteps.isOptimumFolder(model)) {
                throw new OnnxLoraException(ErrorCode.IO, model + " is a folder without " + CachedSteps.ENCODER
                        + " and " + CachedSteps.DECODER + "; pass a model file or an Optimum export folder");
            }
            return new Generator(new CachedSteps(model, family, options), config);
        }
        if (!Files.isRegularFile(model)) {
            throw new OnnxLoraException(ErrorCode.IO, "model " + model + " does not exist");
        }
        Seq2SeqSignature signature = Seq2SeqSignature.of(ModelIO.load(model), model, family);
        if (signature.kind() != Seq2SeqSignature.Kind.FULL) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, model + " is one file of an Optimum export;"
                    + " pass its folder");
        }
        return open(model, signature, config, options);
    }

    /** Opens one full model with a contract the caller already holds (ids checked, overrides applied). */
    public static Generator open(Path model, Seq2SeqSignature signature, GenerationConfig config,
            RuntimeOptions options) {
        long fixed = signature.staticShape().targetLength();
        if (fixed > 0 && config.maxLength() > fixed) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.MAX_NEW_TOKENS, model
                    + " fixes the decoder length to " + fixed + "; generate at most " + (fixed - 1) + " new tokens");
        }
        return new Generator(new FullModelSteps(model, signature, options), config);
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
