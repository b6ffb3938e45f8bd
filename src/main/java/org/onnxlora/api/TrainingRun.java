package org.onnxlora.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Supplier;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.data.BatchPadding;
import org.onnxlora.data.BatchSource;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataPosition;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.data.TokenCache;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SharedExternalData;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.run.RunSettings;
import org.onnxlora.run.RunStart;
import org.onnxlora.run.RunSummary;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.runtime.GpuMemory;
import org.onnxlora.autodiff.Recompute;
import org.onnxlora.train.LrSchedule;
import org.onnxlora.train.OptimumFolder;
import org.onnxlora.train.TrainConfig;
import org.onnxlora.train.Trainer;
import org.onnxlora.train.TrainingCompiler;
import org.onnxlora.train.DataParallelGroup;
import org.onnxlora.train.GradientStep;
import org.onnxlora.train.TrainingSession;

/**
 * A training run in a run folder, end to end: the model's contract is checked before anything
 * is written, the folder is taken (one writer, see {@link RunStart}), a base model is patched
 * on the fly, the training graphs are compiled once, the data is tokenized (through the token
 * cache) and batched, a resumed run continues from its checkpoint after its recorded settings
 * are compared with these, and the summary is written.
 *
 * <pre>{@code
 *   TrainingRun.Result r = TrainingRun.create(runDir, TrainOptions.defaults(model, tok, train, 100))
 *           .run(listener, StopRequest::never);
 * }</pre>
 */
public final class TrainingRun {
    /**
     * What a run ended with: its summary (null when the run was already finished and its recorded
     * summary is returned as {@code json}), the summary's JSON, and the run's length.
     */
    public record Result(RunSummary summary, String json, long totalSteps) {
        public boolean interrupted() {
            return summary != null && summary.interrupted();
        }
    }

    private final Path dir;
    private final RunStart.Mode mode;
    private final TrainOptions options;
    /** How long a device waits for the others at a step's sum before the run fails naming them. */
    private static final java.time.Duration COLLECTIVE_TIMEOUT = java.time.Duration.ofMinutes(10);
    private OptimumFolder patchedFolder;
    /** Data-parallel devices, one session each; empty = the runtime options' one device. */
    private List<Device> devices = List.of();

    private TrainingRun(Path dir, RunStart.Mode mode, TrainOptions options) {
        this.dir = dir;
        this.mode = mode;
        this.options = options;
    }

    /**
     * Trains on several devices at once (data parallel, one session per device, {@code cpu} repeated
     * for tests): each batch's rows are dealt across them by tokens, their gradients summed in device
     * order before one optimizer step. Checkpoints, resume, metrics and the summary are one run's.
     */
    public TrainingRun onDevices(List<Device> list) {
        if (list.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the device list is empty");
        }
        devices = List.copyOf(list);
        return this;
    }

    private List<Device> devices() {
        return devices.isEmpty() ? List.of(options.runtime().device()) : devices;
    }

    /** A new run in {@code dir} (missing or empty; a folder holding another run is refused). */
    public static TrainingRun create(Path dir, TrainOptions options) {
        return new TrainingRun(dir, RunStart.Mode.NEW, options);
    }

    /** A run that replaces the run files in {@code dir} (nothing else there is touched). */
    public static TrainingRun replace(Path dir, TrainOptions options) {
        return new TrainingRun(dir, RunStart.Mode.REPLACE, options);
    }

    /** Continues the run in {@code dir} from its latest checkpoint; {@code options} must match its settings. */
    public static TrainingRun resume(Path dir, TrainOptions options) {
        return new TrainingRun(dir, RunStart.Mode.RESUME, options);
    }

    /**
     * The trained adapter tensors (A and B by tensor name) of a run folder (its latest checkpoint),
     * a checkpoint folder or an adapters file.
     */
    public static org.onnxlora.lora.AdapterValues adapters(Path runOrCheckpoint) {
        return Checkpoint.adapters(runOrCheckpoint);
    }

    /**
     * The files each path stands for, so that an output never overwrites an input: a run folder
     * stands for the files onnx-lora wrote into it, any other path for itself; nulls are skipped.
     */
    public static java.util.List<Path> inputsOf(Path... paths) {
        return org.onnxlora.run.RunDirectory.inputsOf(paths);
    }

    public Path directory() {
        return dir;
    }

    /** Runs without notes or a way to stop. */
    public Result run() {
        return run(RunListener.SILENT, StopRequest::never);
    }

    /**
     * Trains to the configured length. {@code stop} is opened just before the first step and
     * closed after the last; when it asks, the run checkpoints the step it finished and returns
     * an interrupted result.
     */
    public Result run(RunListener listener, Supplier<? extends StopRequest> stop) {
        TrainOptions o = options;
        for (Device d : devices()) {
            Sessions.requireDevice(o.runtime().withDevice(d));
            o.compiler().precision().requireRunnableOn(d);
        }
        DataParallelGroup.requireSupported(devices().size(), o.compiler().precision());
        o.compiler().precision().noteOn(devices().get(0)).ifPresent(listener::info);
        // The model's contract is checked before anything is written: an input it cannot feed, lengths past
        // its positions or a tokenizer larger than its vocabulary stop here.
        OptimumFolder folder = Files.isDirectory(o.model()) ? OptimumFolder.load(o.model(), o.family()) : null;
        Seq2SeqSignature sig = signature(folder != null ? folder.joined() : ModelIO.load(o.model()));
        sig.checkMaxLengths(o.data().maxSourceLength(), o.data().maxTargetLength());
        sig.checkFitsStatic(o.data().maxSourceLength(), o.data().maxTargetLength());
        try (TextTokenizer tok = TextTokenizer.load(o.tokenizer())) {
            sig.checkTokenizerVocab(tok.vocabSize(), o.tokenizer().toString());
        }
        try (RunStart start = RunStart.open(dir, mode, Arrays.asList(o.model(), o.tokenizer(), o.train(), o.valid()))) {
            return train(start, folder, sig, listener, stop);
        } catch (IOException e) {
            // a file operation without its own message (creating the folder, copying config.json)
            throw new OnnxLoraException(ErrorCode.IO, IoErrors.describe(e), e);
        }
    }

    private Seq2SeqSignature signature(ModelProto m) {
        Seq2SeqSignature s = Seq2SeqSignature.of(m, options.model(), options.family(), Set.of(),
                options.compiler().logitsOutput());
        return options.decoderStartTokenId() == null ? s : s.withDecoderStartTokenId(options.decoderStartTokenId());
    }

    private Result train(RunStart start, OptimumFolder folder, Seq2SeqSignature sig, RunListener listener,
            Supplier<? extends StopRequest> stopRequest) throws IOException {
        TrainOptions o = options;
        start.takeNotes().forEach(listener::info);
        start.begin(settings(start.recorded()));
        start.takeNotes().forEach(listener::info);
        RunDirectory run = start.directory();

        ModelProto patched = loadOrPatch(folder, listener);
        try (TextTokenizer tok = TextTokenizer.load(o.tokenizer())) {
            DataConfig dc = o.data().config(tok).withDecoderStartTokenId(Math.toIntExact(sig.decoderStartTokenId()));
            ReaderOptions ro = o.data().reader();
            TokenCache cache = !o.useDataCache() ? null
                    : new TokenCache(o.dataCache() != null ? o.dataCache() : run.dataCache());
            Dataset trainSet = loadData(cache, o.train(), ro, tok, dc, listener);
            report(o.train(), trainSet, listener);
            List<Batch> validBatches = List.of();
            if (o.valid() != null) {
                Dataset v = loadData(cache, o.valid(), ro, tok, dc, listener);
                report(o.valid(), v, listener);
                validBatches = Batcher.inOrder(v.examples(), o.batchSize(), dc, BatchPadding.defaults(dc));
            }
            Batcher batcher = new Batcher(trainSet.examples(), o.batchSize(), o.seed(), dc);
            long total = o.steps() != null ? o.steps()
                    : (long) Math.ceil(o.epochs() * batcher.batchesPerEpoch() / o.gradAccum());
            TrainConfig tc = new TrainConfig(total, o.gradAccum(), new LrSchedule(LrSchedule.parse(o.schedule()), o.lr(),
                    o.warmup(), total), o.evalEvery(), o.saveEvery(), o.keepCheckpoints(), o.seed());
            RunStart.Plan plan = start.plan(total, batcher.batchesPerEpoch());
            start.takeNotes().forEach(listener::info);
            if (plan.finished()) {
                listener.info(String.format(Locale.ROOT, "%s is finished (step %d of %d): nothing to train; more"
                        + " steps extend it", dir, plan.startStep(), total));
                Optional<String> done = run.readSummary();
                if (done.isPresent()) {
                    return new Result(null, done.get(), total);
                }
            }
            Path artifacts = run.artifacts();
            if (plan.needsSetup()) {
                SharedExternalData data = TrainingSetup.compile(patched, o.compiler(), artifacts).frozenWeights();
                if (folder != null) {
                    // merge and export-adapter fold the run's adapters into every file of this patched folder
                    start.writeModelFolder(patchedFolder::save);
                } else {
                    // the patched model of the run, sharing the artifacts' copy of the frozen weights
                    ModelIO.save(data.reference(patched, dir), run.model(), ModelIO.ExternalData.NEVER);
                    copyModelConfig();
                }
            }
            patched = null; // release the source mapping before the sessions map the artifacts
            System.gc();
            // one batch per step on one device: the fused step (one ONNX Runtime session, not two)
            TrainingSession.StepMode alone = o.gradAccum() == 1 ? TrainingSession.StepMode.FUSED
                    : TrainingSession.StepMode.SEPARATE;
            try (DataParallelGroup group = DataParallelGroup.open(artifacts, o.runtime(), devices(), COLLECTIVE_TIMEOUT,
                    alone)) {
                TrainingSession session = group.primary();
                // one device keeps the single-session step (no threads, no sums)
                Trainer trainer = new Trainer(session, group.size() == 1 ? GradientStep.of(session) : group, tc, dir,
                        start.fingerprint(), listener.progress());
                BatchSource source = batcher.source(DataPosition.START);
                long from = 0;
                if (plan.checkpoint() != null) {
                    from = trainer.resume(Checkpoint.load(plan.checkpoint()), source);
                    listener.info(String.format(Locale.ROOT, "resuming %s from step %d", dir, from));
                } else if (mode == RunStart.Mode.RESUME) {
                    listener.info(String.format(Locale.ROOT, "no checkpoint in %s yet: starting from step 0", dir));
                }
                listener.info(String.format(Locale.ROOT, "training %d adapters on %s: %d examples, %d batches/epoch,"
                        + " %d steps (batch %d x %d accum)", session.adapters().size(),
                        devices().stream().map(Device::toString).collect(java.util.stream.Collectors.joining(",")),
                        trainSet.examples().size(), batcher.batchesPerEpoch(), total, o.batchSize(), o.gradAccum()));
                RunSummary summary;
                try (StopRequest stop = stopRequest.get()) {
                    summary = trainer.run(source, validBatches, from, stop::requested);
                }
                if (summary.interrupted()) {
                    return new Result(summary, null, total);
                }
                return new Result(summary, run.writeSummary(summary), total);
            }
        }
    }

    /**
     * Everything that shapes the run's result. The names are run.json's keys, which runs
     * have recorded since the first version (the command line's spelling): a resumed run must agree on each.
     */
    private RunSettings settings(RunSettings recorded) {
        return settings(options, recorded);
    }

    /** {@link #settings(RunSettings)} of any options (the data-parallel workers' fingerprint is its hash). */
    static RunSettings settings(TrainOptions o, RunSettings recorded) {
        TrainingCompiler.Options co = o.compiler();
        RunSettings.Builder b = RunSettings.builder(recorded)
                .model("--model", o.model())
                .set("--rank", o.rank())
                .set("--alpha", o.alpha())
                .set("--target", o.targets())
                .file("--tokenizer", o.tokenizer())
                .file("--train", o.train())
                .file("--valid", o.valid())
                .set("--format", o.data().format())
                .set("--source-field", o.data().sourceField())
                .set("--target-field", o.data().targetField())
                .set("--skip-bad-rows", o.data().skipBadRows())
                .set("--max-source-length", o.data().maxSourceLength())
                .set("--max-target-length", o.data().maxTargetLength())
                .set("--decoder-start-token-id", o.decoderStartTokenId())
                .set("--batch-size", o.batchSize())
                .set("--grad-accum", o.gradAccum())
                .set("--lr", o.lr())
                .set("--schedule", o.schedule())
                .set("--warmup", o.warmup())
                .set("--seed", o.seed())
                .set("--label-smoothing", co.loss().labelSmoothing())
                .set("--weight-decay", co.optimizer().weightDecay())
                .set("--max-grad-norm", co.optimizer().maxGradNorm())
                .set("--adam-betas", co.optimizer().beta1() + "," + co.optimizer().beta2())
                .set("--adam-eps", co.optimizer().eps())
                .set("--logits", co.logitsOutput());
        // recorded only when half: float32 runs recorded before there was a precision setting still resume
        if (co.precision().isHalf()) {
            b.set("--precision", co.precision().label());
        }
        // the same for the settings below: runs recorded before them resume. The recomputation is compiled into
        // the artifacts; the memory settings are recorded so a resumed run gets the memory its first part got.
        if (co.recompute() != Recompute.NONE) {
            b.set("--recompute", co.recompute().label());
        }
        if (o.runtime().gpuMemory() != GpuMemory.AUTO) {
            b.set("--gpu-memory", o.runtime().gpuMemory().label());
        }
        if (!o.runtime().cudaOptions().isEmpty()) {
            b.set("--cuda-option", new java.util.TreeMap<>(o.runtime().cudaOptions()).entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(java.util.stream.Collectors.joining(",")));
        }
        return b.build();
    }

    /** The model's config.json travels with RUN/model.onnx, so eval and generate on it get the same ids. */
    private void copyModelConfig() throws IOException {
        Optional<Path> c = ModelFiles.configOf(options.model());
        if (c.isPresent()) {
            Files.copy(c.get(), ModelFiles.configTarget(RunDirectory.at(dir).model()), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** The run's patched model: RUN/model.onnx, or the patched Optimum folder RUN/model/. */
    private Path runModel() {
        RunDirectory run = RunDirectory.at(dir);
        return Files.isDirectory(options.model()) ? run.modelFolder() : run.model();
    }

    private ModelProto loadOrPatch(OptimumFolder folder, RunListener listener) {
        Path runModel = runModel();
        boolean resume = mode == RunStart.Mode.RESUME;
        if (folder != null) {
            if (resume && Files.isDirectory(runModel)) {
                patchedFolder = OptimumFolder.load(runModel, options.family());
            } else {
                if (!folder.isPatched()) {
                    patchingOnTheFly(listener);
                }
                patchedFolder = TrainingSetup.patchedOrPatch(folder, options.loraConfig());
            }
            return patchedFolder.joined();
        }
        if (resume && Files.exists(runModel)) {
            return ModelIO.load(runModel);
        }
        ModelProto m = ModelIO.load(options.model());
        if (LoraMetadata.read(m).isPresent()) {
            return m;
        }
        patchingOnTheFly(listener);
        return TrainingSetup.patchedOrPatch(m, options.family(), options.loraConfig());
    }

    private void patchingOnTheFly(RunListener listener) {
        double a = options.alpha();
        listener.info(String.format(Locale.ROOT, "patching %s on the fly (r=%d, alpha=%s, targets %s)", options.model(),
                options.rank(), a == Math.rint(a) ? Long.toString((long) a) : Double.toString(a),
                String.join(",", options.targets())));
    }

    private static Dataset loadData(TokenCache cache, Path file, ReaderOptions ro, TextTokenizer tok, DataConfig dc,
            RunListener listener) {
        if (cache == null) {
            return Dataset.load(file, ro, tok, dc, listener.progress());
        }
        TokenCache.Loaded l = cache.load(file, ro, tok, dc, listener.progress());
        switch (l.outcome()) {
            case HIT -> listener.detail(file + ": tokens from the cache " + l.entry());
            case REBUILT -> listener.info(file + ": the cached tokens in " + l.entry() + " were damaged; tokenized again");
            case NOT_STORED -> listener.info(file + ": cannot write the token cache " + l.entry()
                    + "; the next run tokenizes again");
            case MISS -> listener.detail(file + ": tokens cached in " + l.entry());
        }
        return l.dataset();
    }

    private static void report(Path file, Dataset d, RunListener listener) {
        listener.info(String.format(Locale.ROOT, "%s: %d examples%s%s", file, d.examples().size(),
                d.skippedRows() > 0 ? ", " + d.skippedRows() + " bad rows skipped" : "",
                d.truncatedSources() + d.truncatedTargets() > 0 ? ", " + d.truncatedSources() + " sources and "
                        + d.truncatedTargets() + " targets truncated" : ""));
    }
}
