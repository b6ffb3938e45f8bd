package org.onnxlora.api;

import java.nio.file.Path;
import java.util.List;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.LossConfig;
import org.onnxlora.train.LrSchedule;
import org.onnxlora.train.TrainConfig;
import org.onnxlora.train.OptimizerConfig;
import org.onnxlora.train.TrainingCompiler;

/**
 * Everything a training run is given. {@code model} is a patched model, a base model (patched
 * on the fly with {@code rank}, {@code alpha}, {@code targets}, seeded by {@code seed}) or an
 * Optimum folder; {@code valid} may be null; exactly one of {@code steps} and {@code epochs} is
 * set. {@code decoderStartTokenId} null means the model's own. {@code dataCache} null keeps
 * tokenized data in the run folder; {@code useDataCache} false tokenizes every time.
 * {@code schedule} is {@code constant}, {@code linear} or {@code cosine}.
 *
 * <p>The settings that shape the result are recorded in the run folder; a resumed run must give
 * the same ones (steps or epochs may grow; evaluation, checkpoint frequency and runtime may change).
 */
public record TrainOptions(Path model, Path tokenizer, Path train, Path valid, ModelFamily family,
        Integer decoderStartTokenId, int rank, double alpha, List<String> targets, DataSettings data, int batchSize,
        int gradAccum, double lr, Long steps, Double epochs, long warmup, String schedule, long evalEvery,
        long saveEvery, int keepCheckpoints, long seed, TrainingCompiler.Options compiler, RuntimeOptions runtime,
        Path dataCache, boolean useDataCache) {
    public TrainOptions {
        targets = List.copyOf(targets);
    }

    /** The command line's defaults: r=8, alpha 16 on q_proj,v_proj, batch 32, lr 5e-4 linear, seed 42, CPU. */
    public static TrainOptions defaults(Path model, Path tokenizer, Path train, long steps) {
        ModelFamily family = ModelFamily.bart();
        return new TrainOptions(model, tokenizer, train, null, family, null, 8, 16, List.of("q_proj", "v_proj"),
                DataSettings.DEFAULT, 32, 1, 5e-4, steps, null, 0, "linear", 0, 0, 2, 42,
                new TrainingCompiler.Options(LossConfig.DEFAULT, OptimizerConfig.DEFAULT, family.logitsOutput()),
                RuntimeOptions.defaults(), null, true);
    }

    public TrainOptions withValid(Path file) {
        return new TrainOptions(model, tokenizer, train, file, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    public TrainOptions withData(DataSettings d) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, d,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    public TrainOptions withBatch(int size, int accumulate) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                size, accumulate, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    /** Peak learning rate, linear warm-up steps and the schedule's name. */
    public TrainOptions withSchedule(double peak, long warmupSteps, String kind) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, peak, steps, epochs, warmupSteps, kind, evalEvery, saveEvery, keepCheckpoints,
                seed, compiler, runtime, dataCache, useDataCache);
    }

    /** The run's length in optimizer steps (and no epochs). */
    public TrainOptions withSteps(long n) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, n, null, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    /** Validate every {@code evalSteps}, checkpoint every {@code saveSteps} (0: at the end only), keep {@code keep}. */
    public TrainOptions withCheckpoints(long evalSteps, long saveSteps, int keep) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalSteps, saveSteps, keep, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    /** The LoRA shape used when {@code model} is a base model. */
    public TrainOptions withLora(int r, double a, List<String> modules) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, r, a, modules, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, runtime, dataCache, useDataCache);
    }

    public TrainOptions withSeed(long s) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, s,
                compiler, runtime, dataCache, useDataCache);
    }

    /** The model family and the loss/optimizer graphs' options that go with it. */
    public TrainOptions withCompiler(ModelFamily f, TrainingCompiler.Options c) {
        return new TrainOptions(model, tokenizer, train, valid, f, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                c, runtime, dataCache, useDataCache);
    }

    public TrainOptions withCompiler(ModelFamily f, CompileOptions c) {
        return withCompiler(f, c.compiler());
    }

    public TrainOptions withRuntime(RuntimeOptions r) {
        return new TrainOptions(model, tokenizer, train, valid, family, decoderStartTokenId, rank, alpha, targets, data,
                batchSize, gradAccum, lr, steps, epochs, warmup, schedule, evalEvery, saveEvery, keepCheckpoints, seed,
                compiler, r, dataCache, useDataCache);
    }

    /** Refuses settings that no run can use, before any model or data is read; the configuration records hold the rules. */
    public void check() {
        data.check(decoderStartTokenId);
        // with epochs the step count is known only once the data is read; 1 stands in for it here
        long knownSteps = steps != null ? steps : 1;
        new TrainConfig(knownSteps, gradAccum, new LrSchedule(LrSchedule.parse(schedule), lr, warmup, knownSteps),
                evalEvery, saveEvery, keepCheckpoints, seed);
    }

    /** The LoRA configuration a base model is patched with (Kaiming-initialised A, B = 0). */
    public LoraConfig loraConfig() {
        return new LoraConfig(rank, alpha, targets, LoraConfig.Init.KAIMING, seed, false, java.util.Map.of(),
                java.util.Map.of());
    }
}
