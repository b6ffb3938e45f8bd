package org.onnxlora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.BatchPadding;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.BatcherSource;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.data.TokenCache;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SharedExternalData;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.Batch;
import org.onnxlora.train.Checkpoint;
import org.onnxlora.train.LrSchedule;
import org.onnxlora.train.OptimumFolder;
import org.onnxlora.train.RunDirectory;
import org.onnxlora.train.RunSettings;
import org.onnxlora.train.RunStart;
import org.onnxlora.train.TrainConfig;
import org.onnxlora.train.Trainer;
import org.onnxlora.train.TrainingCompiler;
import org.onnxlora.train.TrainingSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true,
        description = {
            "Fine-tune the LoRA adapters of a BART export on text pairs, on CPU or CUDA.",
            "",
            "--model takes a patched model, or a base model plus --rank/--alpha/--target (patched on the fly into",
            "RUN/model.onnx). An Optimum folder (encoder_model.onnx + decoder_model.onnx) is patched file by file",
            "into RUN/model/ and trained as one joined graph; merge RUN/model writes the adapters into every file.",
            "The model's inputs are fed as graphs/bart.json names them (3- and 4-input exports, static shapes);",
            "an input it cannot feed is refused before any work. The input model is never modified.",
            "Data is JSONL, CSV or TSV with a source and a",
            "target field; it is tokenized with the model's tokenizer.json, truncated, batched by length, and fed",
            "with teacher forcing (decoder input = labels shifted right, padding ignored in the loss).",
            "",
            "RUN/ receives: run.json (the settings), model.onnx, artifacts/ (compiled graphs), checkpoints/step-N/",
            "(adapters, AdamW moments, data position; written atomically), data-cache/ (the tokenized data, so a resumed",
            "run does not tokenize again), metrics.jsonl (loss, lr, grad norm, tokens/s per step; validation loss per",
            "eval), tb/ (the same scalars as TensorBoard event files: tensorboard --logdir RUN/tb), summary.json,",
            "and the final JSON summary is printed on stdout; 'onnx-lora report RUN' draws it. One process at a time",
            "writes a run folder (a second one is refused, naming the first's pid).",
            "",
            "A killed run continues with --resume and ends with bit-identical adapters. Ctrl-C (or SIGTERM) finishes",
            "the current step, writes a checkpoint, says where, and exits with 130 (143); a second Ctrl-C quits at",
            "once. --resume refuses, naming the setting, if the model or data files (by content), the LoRA shape,",
            "batch, lengths, learning-rate schedule, seed or loss/optimizer options differ from the run's;",
            "--steps/--epochs may change (down to the checkpoint's step), and the schedule is then recomputed for the",
            "new length. --eval-every, --save-every, --keep-checkpoints, --device and --threads may change freely.",
            "",
            "--force replaces a run folder's run files (the names above) and nothing else: other files in it, and",
            "the --model, --tokenizer and data files wherever they are, are never deleted; a folder that holds",
            "files but no run is refused. A folder whose run never saved a checkpoint is started over without it."},
        footer = {"", "Examples:",
            "  onnx-lora train --model model.onnx --tokenizer tokenizer.json --train train.jsonl --valid valid.jsonl \\",
            "      --out run1 --rank 8 --alpha 16 --target q_proj,v_proj --batch-size 16 --lr 1e-3 --epochs 1",
            "  onnx-lora train ... --out run1 --resume        # continue a killed or interrupted run",
            "  onnx-lora train ... --out run1 --resume --steps 2000   # extend a finished run",
            "  onnx-lora merge --model run1/model.onnx --adapter run1 --out merged.onnx"})
final class TrainCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR",
            description = "Patched model, or base model (then give --rank/--alpha/--target); a file or an Optimum folder.")
    Path model;

    @Option(names = "--tokenizer", required = true, paramLabel = "FILE", description = "The model's Hugging Face tokenizer.json.")
    Path tokenizer;

    @Option(names = "--train", required = true, paramLabel = "FILE", description = "Training data: .jsonl, .csv or .tsv.")
    Path train;

    @Option(names = "--valid", paramLabel = "FILE", description = "Validation data (loss reported every --eval-every steps and at the end).")
    Path valid;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Run folder.")
    Path out;

    @Mixin
    DataOptions dataOptions;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    LoraOptions lora;

    @Option(names = "--batch-size", defaultValue = "32", description = "Examples per micro-batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int gradAccum;

    @Option(names = "--lr", defaultValue = "5e-4", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--steps", description = "Optimizer steps to train.")
    Long steps;

    @Option(names = "--epochs", description = "Epochs to train (instead of --steps).")
    Double epochs;

    @Option(names = "--warmup", defaultValue = "0", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    long warmup;

    @Option(names = "--schedule", defaultValue = "linear", description = "constant, linear or cosine (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--eval-every", defaultValue = "0", description = "Validate every N steps; 0 = at the end only (default: ${DEFAULT-VALUE}).")
    long evalEvery;

    @Option(names = "--save-every", defaultValue = "0", description = "Checkpoint every N steps; 0 = at the end only (default: ${DEFAULT-VALUE}).")
    long saveEvery;

    @Option(names = "--keep-checkpoints", defaultValue = "2", description = "Checkpoints to keep; 0 = all (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of data order and adapter init (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--tf32", description = "Same as --precision tf32: TF32 for float32 matrix products on CUDA.")
    boolean tf32;

    @Option(names = "--resume", description = "Continue the run in --out from its latest checkpoint, with the same"
            + " settings (the first that differs is named); a longer --steps extends it.")
    boolean resume;

    @Option(names = "--force", description = "Start over in an existing run folder: its run files are replaced,"
            + " nothing else in it is touched.")
    boolean force;

    @Mixin
    CompileCommand.TrainingOptions training;

    @Option(names = "--data-cache", paramLabel = "DIR", description = "Where tokenized data is kept between runs, keyed by"
            + " a hash of the data, the tokenizer and the data options (default: RUN/data-cache; give one DIR to several"
            + " runs to share it).")
    Path dataCache;

    @Option(names = "--no-data-cache", description = "Tokenize the data every time; read and write no cache.")
    boolean noDataCache;

    @Override
    int execute() throws IOException {
        if ((steps == null) == (epochs == null)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "give exactly one of --steps or --epochs");
        }
        if (resume && force) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--resume continues the run in --out and --force"
                    + " replaces it: give one of them");
        }
        checkOptions();
        Device dev = Device.parse(device);
        org.onnxlora.runtime.Sessions.requireDevice(RuntimeOptions.defaults().withDevice(dev));
        training.precision(tf32).requireRunnableOn(dev);
        training.precision(tf32).noteOn(dev).ifPresent(n -> output.info("%s", n));
        ModelFamily family = modelOptions.family();
        // The model's contract is checked before anything is written: an input it cannot feed, lengths past
        // its positions or a tokenizer larger than its vocabulary stop here.
        OptimumFolder folder = Files.isDirectory(model) ? OptimumFolder.load(model, family) : null;
        Seq2SeqSignature sig = modelOptions.signature(folder != null ? folder.joined() : ModelIO.load(model), model,
                Set.of(), training.logits(family));
        sig.checkMaxLengths(dataOptions.maxSourceLength, dataOptions.maxTargetLength);
        sig.checkFitsStatic(dataOptions.maxSourceLength, dataOptions.maxTargetLength);
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            sig.checkTokenizerVocab(tok.vocabSize(), tokenizer.toString());
        }
        RunStart.Mode mode = resume ? RunStart.Mode.RESUME : force ? RunStart.Mode.REPLACE : RunStart.Mode.NEW;
        try (RunStart start = RunStart.open(out, mode, Arrays.asList(model, tokenizer, train, valid))) {
            return train(start, dev, family, folder, sig);
        }
    }

    /** The run, with the folder taken: set up (or continue) and train. */
    private int train(RunStart start, Device dev, ModelFamily family, OptimumFolder folder, Seq2SeqSignature sig)
            throws IOException {
        start.takeNotes().forEach(n -> output.info("%s", n));
        start.begin(settings(start.recorded(), family));
        start.takeNotes().forEach(n -> output.info("%s", n));
        RunDirectory run = start.directory();

        ModelProto patched = loadOrPatch(family, folder);
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            DataConfig dc = ModelOptions.withContract(dataOptions.config(tok), sig);
            ReaderOptions ro = dataOptions.reader();
            TokenCache cache = noDataCache ? null : new TokenCache(dataCache != null ? dataCache : run.dataCache());
            Dataset trainSet = loadData(cache, train, ro, tok, dc);
            report(train, trainSet);
            List<Batch> validBatches = List.of();
            if (valid != null) {
                Dataset v = loadData(cache, valid, ro, tok, dc);
                report(valid, v);
                validBatches = Batcher.inOrder(v.examples(), batchSize, dc, BatchPadding.defaults(dc));
            }
            Batcher batcher = new Batcher(trainSet.examples(), batchSize, seed, dc);
            long total = steps != null ? steps
                    : (long) Math.ceil(epochs * batcher.batchesPerEpoch() / gradAccum);
            TrainConfig tc = new TrainConfig(total, gradAccum, new LrSchedule(LrSchedule.parse(schedule), lr, warmup, total),
                    evalEvery, saveEvery, keep, seed);
            RunStart.Plan plan = start.plan(total, batcher.batchesPerEpoch());
            start.takeNotes().forEach(n -> output.info("%s", n));
            if (plan.finished()) {
                output.info("%s is finished (step %d of %d): nothing to train; a larger --steps extends it", out,
                        plan.startStep(), total);
                Optional<String> done = run.readSummary();
                if (done.isPresent()) {
                    output.result("%s", done.get());
                    return 0;
                }
            }
            Path artifacts = run.artifacts();
            if (plan.needsSetup()) {
                TrainingCompiler.Options opts = training.compilerOptions(family);
                SharedExternalData data = ArtifactStore.write(new TrainingCompiler().compile(patched, opts), opts,
                        artifacts);
                if (folder != null) {
                    // merge and export-adapter fold the run's adapters into every file of this patched folder
                    patchedFolder.save(runModel());
                } else {
                    // the patched model of the run, sharing the artifacts' copy of the frozen weights
                    ModelIO.save(data.reference(patched, out), run.model(), ModelIO.ExternalData.NEVER);
                    copyModelConfig();
                }
            }
            patched = null; // release the source mapping before the sessions map the artifacts
            System.gc();
            RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads).withDevice(dev)
                    .withAllowTf32(training.precision(tf32) == org.onnxlora.train.Precision.TF32);
            try (TrainingSession session = new TrainingSession(artifacts, rt)) {
                Trainer trainer = new Trainer(session, tc, out, start.fingerprint(), output.progress());
                BatcherSource source = new BatcherSource(batcher);
                long from = 0;
                if (plan.checkpoint() != null) {
                    from = trainer.resume(Checkpoint.load(plan.checkpoint()), source);
                    output.info("resuming %s from step %d", out, from);
                } else if (resume) {
                    output.info("no checkpoint in %s yet: starting from step 0", out);
                }
                output.info("training %d adapters on %s: %d examples, %d batches/epoch, %d steps (batch %d x %d accum)",
                        session.adapters().size(), dev, trainSet.examples().size(), batcher.batchesPerEpoch(), total,
                        batchSize, gradAccum);
                Trainer.Summary summary;
                int stopCode;
                try (StopSignals stop = StopSignals.install(output)) {
                    summary = trainer.run(source, validBatches, from, stop::requested);
                    stopCode = stop.exitCode();
                }
                if (summary.interrupted()) {
                    output.info("interrupted after step %d of %d; checkpoint %s; continue with --resume",
                            summary.steps(), total, summary.checkpoint());
                    return stopCode;
                }
                output.result("%s", run.writeSummary(summary));
            }
        }
        return 0;
    }

    /** Everything that shapes the run's result, named by flag: a resumed run must agree on each. */
    private RunSettings settings(RunSettings recorded, ModelFamily family) {
        TrainingCompiler.Options co = training.compilerOptions(family);
        RunSettings.Builder b = RunSettings.builder(recorded)
                .model("--model", model)
                .set("--rank", lora.rank)
                .set("--alpha", lora.alpha)
                .set("--target", lora.targets)
                .file("--tokenizer", tokenizer)
                .file("--train", train)
                .file("--valid", valid)
                .set("--format", dataOptions.format)
                .set("--source-field", dataOptions.sourceField)
                .set("--target-field", dataOptions.targetField)
                .set("--skip-bad-rows", dataOptions.skipBadRows)
                .set("--max-source-length", dataOptions.maxSourceLength)
                .set("--max-target-length", dataOptions.maxTargetLength)
                .set("--decoder-start-token-id", modelOptions.decoderStart)
                .set("--batch-size", batchSize)
                .set("--grad-accum", gradAccum)
                .set("--lr", lr)
                .set("--schedule", schedule)
                .set("--warmup", warmup)
                .set("--seed", seed)
                .set("--label-smoothing", co.loss().labelSmoothing())
                .set("--weight-decay", co.optimizer().weightDecay())
                .set("--max-grad-norm", co.optimizer().maxGradNorm())
                .set("--adam-betas", co.optimizer().beta1() + "," + co.optimizer().beta2())
                .set("--adam-eps", co.optimizer().eps())
                .set("--logits", co.logitsOutput());
        // recorded only when half: float32 runs recorded before --precision existed still resume
        if (co.precision().isHalf()) {
            b.set("--precision", co.precision().label());
        }
        return b.build();
    }

    /** Refuses a bad flag before any model or data is read; the configuration records hold the rules. */
    private void checkOptions() {
        if (epochs != null) {
            Flags.finiteAbove("--epochs", epochs, 0);
        }
        Flags.atLeast("--batch-size", batchSize, 1);
        dataOptions.check(modelOptions.decoderStart);
        // with --epochs the step count is known only once the data is read; 1 stands in for it here
        long knownSteps = steps != null ? steps : 1;
        new TrainConfig(knownSteps, gradAccum, new LrSchedule(LrSchedule.parse(schedule), lr, warmup, knownSteps),
                evalEvery, saveEvery, keep, seed);
        training.compilerOptions(modelOptions.family());
        training.precision(tf32);
        RuntimeOptions.defaults().withThreads(threads);
    }

    /** The model's config.json travels with RUN/model.onnx, so eval and generate on it get the same ids. */
    private void copyModelConfig() throws IOException {
        java.util.Optional<Path> c = org.onnxlora.lora.ModelFiles.configOf(model);
        if (c.isPresent()) {
            Files.copy(c.get(), org.onnxlora.lora.ModelFiles.configTarget(RunDirectory.at(out).model()),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The run's patched model: RUN/model.onnx, or the patched Optimum folder RUN/model/. */
    private Path runModel() {
        RunDirectory run = RunDirectory.at(out);
        return Files.isDirectory(model) ? run.modelFolder() : run.model();
    }

    /** The patched Optimum folder of the run (null for a single file), written with the artifacts. */
    private OptimumFolder patchedFolder;

    private ModelProto loadOrPatch(ModelFamily family, OptimumFolder folder) {
        Path runModel = runModel();
        if (folder != null) {
            if (resume && Files.isDirectory(runModel)) {
                patchedFolder = OptimumFolder.load(runModel, family);
            } else if (folder.isPatched()) {
                patchedFolder = folder;
            } else {
                LoraConfig cfg = lora.config(LoraConfig.Init.KAIMING, seed, false);
                output.info("patching %s on the fly (r=%d, alpha=%s, targets %s)", model, lora.rank,
                        InspectCommand.num(lora.alpha), String.join(",", lora.targets));
                patchedFolder = folder.patch(cfg, new AdapterInit(cfg.init(), seed));
            }
            return patchedFolder.joined();
        }
        if (resume && Files.exists(runModel)) {
            return ModelIO.load(runModel);
        }
        ModelProto m = ModelIO.load(model);
        if (LoraMetadata.read(m).isPresent()) {
            return m;
        }
        LoraConfig cfg = lora.config(LoraConfig.Init.KAIMING, seed, false);
        output.info("patching %s on the fly (r=%d, alpha=%s, targets %s)", model, lora.rank,
                InspectCommand.num(lora.alpha), String.join(",", lora.targets));
        return new PatchPass(family).patch(m, null, cfg, new AdapterInit(cfg.init(), seed));
    }

    private Dataset loadData(TokenCache cache, Path file, ReaderOptions ro, TextTokenizer tok, DataConfig dc) {
        if (cache == null) {
            return Dataset.load(file, ro, tok, dc, output.progress());
        }
        TokenCache.Loaded l = cache.load(file, ro, tok, dc, output.progress());
        switch (l.outcome()) {
            case HIT -> output.detail("%s: tokens from the cache %s", file, l.entry());
            case REBUILT -> output.info("%s: the cached tokens in %s were damaged; tokenized again", file, l.entry());
            case NOT_STORED -> output.info("%s: cannot write the token cache %s; the next run tokenizes again", file,
                    l.entry());
            case MISS -> output.detail("%s: tokens cached in %s", file, l.entry());
        }
        return l.dataset();
    }

    private void report(Path file, Dataset d) {
        output.info("%s: %d examples%s%s", file, d.examples().size(),
                d.skippedRows() > 0 ? ", " + d.skippedRows() + " bad rows skipped" : "",
                d.truncatedSources() + d.truncatedTargets() > 0 ? ", " + d.truncatedSources() + " sources and "
                        + d.truncatedTargets() + " targets truncated" : "");
    }
}
