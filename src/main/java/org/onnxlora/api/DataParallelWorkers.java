package org.onnxlora.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReadResult;
import org.onnxlora.data.TextPair;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.run.RunStart;
import org.onnxlora.run.RunSettings;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.train.ArtifactStore;
import org.onnxlora.train.LrSchedule;
import org.onnxlora.train.OptimumFolder;
import org.onnxlora.train.SessionWorker;
import org.onnxlora.train.TrainingSession;

/**
 * The real trainer as a rank of a data-parallel run ({@link org.onnxlora.parallel.DataParallelLoop}:
 * the Spark job, or any process group), built from the settings a {@link TrainingRun} takes plus the
 * rank's shard of text pairs ({@code options.train()} is not read: the shard is the data).
 *
 * <p>Every rank patches the model the same way (seeded; an Optimum folder as {@code train} does: every
 * file with one adapter set, encoder and decoder joined into one graph) and opens the same compiled
 * graphs; its fingerprint is the hash of the model's content and of the settings that shape the
 * result, so ranks given different files refuse to train together. Rank 0 owns the run folder:
 * run.json, the patched model.onnx (or model/) and the checkpoints, which merge, export and eval read
 * as any run's.
 */
public final class DataParallelWorkers {
    private DataParallelWorkers() {}

    /**
     * Compiles the training graphs of {@code options} once into {@code artifacts}, for ranks that
     * share them read-only ({@link #open}'s {@code artifacts}).
     */
    public static void compile(TrainOptions options, Path artifacts) {
        TrainingSetup.compile(patched(options, signatureChecked(options)).joined(), options.compiler(), artifacts);
    }

    /**
     * Opens the worker of {@code rank}.
     *
     * @param runDir the run folder every rank can read; rank 0 writes it
     * @param artifacts graphs compiled by {@link #compile} from the same model and settings, shared
     *                  read-only; null compiles this rank's own into a temporary folder
     * @param shards this rank's rows, usually one shard; several are accumulated in order (one
     *               process standing in for as many ranks)
     */
    public static SessionWorker open(TrainOptions options, Path runDir, Path artifacts, int rank,
            List<List<TextPair>> shards) {
        if (options.steps() == null) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a data-parallel run needs its length in steps");
        }
        if (shards.isEmpty() || shards.stream().anyMatch(List::isEmpty)) {
            // before any compilation: the Batcher would say so only after minutes on a large model
            throw new OnnxLoraException(ErrorCode.BAD_DATA, "data-parallel rank " + rank + " got no training rows"
                    + " (more workers than rows?)");
        }
        Sessions.requireDevice(options.runtime());
        options.compiler().precision().requireRunnableOn(options.runtime().device());
        Checked c = signatureChecked(options);
        Patched patched = patched(options, c);
        Path graphs = artifacts;
        Path scratch = null;
        if (graphs == null) {
            try {
                scratch = Files.createTempDirectory("onnx-lora-worker-");
            } catch (IOException e) {
                throw new OnnxLoraException(ErrorCode.IO, "cannot create a temporary folder: " + IoErrors.reason(e), e);
            }
            graphs = scratch;
            TrainingSetup.compile(patched.joined(), options.compiler(), graphs);
        } else if (!Files.isRegularFile(graphs.resolve(ArtifactStore.MANIFEST))) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, graphs + " holds no compiled training graphs;"
                    + " compile them once before the workers start");
        }
        RunSettings settings = TrainingRun.settings(options, null);
        List<Batcher> batchers = new ArrayList<>();
        try (TextTokenizer tok = TextTokenizer.load(options.tokenizer())) {
            c.signature().checkTokenizerVocab(tok.vocabSize(), options.tokenizer().toString());
            DataConfig dc = options.data().config(tok)
                    .withDecoderStartTokenId(Math.toIntExact(c.signature().decoderStartTokenId()));
            for (int i = 0; i < shards.size(); i++) {
                ReadResult rows = new ReadResult(Path.of("shard-" + (rank + i)), shards.get(i), 0, List.of());
                Dataset d = Dataset.encode(rows, tok, dc, Progress.NONE);
                batchers.add(new Batcher(d.examples(), options.batchSize(), options.seed(), dc));
            }
        }
        if (rank == 0) {
            writeRunFolder(options, runDir, settings, patched, batchers.get(0).batchesPerEpoch());
        }
        patched = null;
        TrainingSession session = new TrainingSession(graphs, options.runtime());
        LrSchedule schedule = new LrSchedule(LrSchedule.parse(options.schedule()), options.lr(), options.warmup(),
                options.steps());
        return new SessionWorker(session, batchers, options.gradAccum(), schedule, runDir, settings.fingerprint(),
                options.seed(), options.keepCheckpoints(), scratch);
    }

    /** The model as given: a single file, or an Optimum folder (then {@code model} is its files joined). */
    private record Checked(ModelProto model, OptimumFolder folder, Seq2SeqSignature signature) {}

    /** What the ranks train: one graph, and for an Optimum folder its patched files (the run's RUN/model/). */
    private record Patched(ModelProto joined, OptimumFolder folder) {}

    /** The checks a run makes before any work: the model's contract against the lengths asked for. */
    private static Checked signatureChecked(TrainOptions o) {
        OptimumFolder folder = Files.isDirectory(o.model()) ? OptimumFolder.load(o.model(), o.family()) : null;
        ModelProto m = folder != null ? folder.joined() : ModelIO.load(o.model());
        Seq2SeqSignature sig = Seq2SeqSignature.of(m, o.model(), o.family(), Set.of(), o.compiler().logitsOutput());
        if (o.decoderStartTokenId() != null) {
            sig = sig.withDecoderStartTokenId(o.decoderStartTokenId());
        }
        sig.checkMaxLengths(o.data().maxSourceLength(), o.data().maxTargetLength());
        sig.checkFitsStatic(o.data().maxSourceLength(), o.data().maxTargetLength());
        return new Checked(m, folder, sig);
    }

    /** Patched as train patches (seeded): every rank gets the same adapters' start. */
    private static Patched patched(TrainOptions o, Checked c) {
        if (c.folder() == null) {
            return new Patched(TrainingSetup.patchedOrPatch(c.model(), o.family(), o.loraConfig()), null);
        }
        OptimumFolder f = TrainingSetup.patchedOrPatch(c.folder(), o.loraConfig());
        return new Patched(f.joined(), f);
    }

    /** run.json and the patched model (an Optimum folder's as RUN/model/): a run that merge and eval read. */
    private static void writeRunFolder(TrainOptions o, Path runDir, RunSettings settings, Patched patched,
            long batchesPerEpoch) {
        RunDirectory run = RunDirectory.at(runDir);
        // A single-process run's rules for taking the folder: never one holding the user's files but no run,
        // never another run's (a restarted stage finds its own run.json and resumes it). Checked, then let go:
        // the folder's lock would outlive a failed attempt's rank 0 and keep the next attempt out.
        RunStart.Mode mode = Files.isRegularFile(run.info()) ? RunStart.Mode.RESUME : RunStart.Mode.NEW;
        try (RunStart start = RunStart.open(runDir, mode, RunDirectory.inputsOf(o.model(), o.tokenizer()))) {
            start.begin(settings);
        }
        try {
            run.writeInfo(new RunDirectory.Info(settings, o.steps(), batchesPerEpoch));
            if (patched.folder() != null) {
                // a restarted stage completes what a killed rank 0 left half-written (each file is atomic)
                if (!patched.folder().isSavedIn(run.modelFolder())) {
                    patched.folder().save(run.modelFolder());
                }
            } else if (!Files.isRegularFile(run.model())) {
                ModelIO.save(patched.joined(), run.model());
                Optional<Path> config = ModelFiles.configOf(o.model());
                if (config.isPresent()) {
                    Files.copy(config.get(), ModelFiles.configTarget(run.model()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot set up the run folder " + runDir + ": "
                    + IoErrors.reason(e), e);
        }
    }
}
