package org.onnxlora.run;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.FileTrees;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.Json;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.lora.ModelFiles;

/**
 * A training run's folder and the one place that knows its layout:
 *
 * <pre>
 *   RUN/run.json          the settings that shape the run (compared on resume), its length
 *   RUN/model.onnx        the patched model, its weights in artifacts/frozen_weights.data
 *   RUN/artifacts/        compiled training, eval and optimizer graphs (the compiler's ArtifactStore; {@link #ARTIFACTS_MANIFEST} last)
 *   RUN/checkpoints/      step-N/ folders and the latest pointer ({@link Checkpoint})
 *   RUN/metrics.jsonl     one JSON object per step and per validation (the trainer's MetricsLog)
 *   RUN/summary.json      what the finished run achieved
 *   RUN/tb/               TensorBoard event files of the metrics (TensorBoardMetrics)
 *   RUN/eval/             eval results attached to the run (eval --run; shown by report)
 *   RUN/.lock             held by the one process writing the run ({@link RunLock})
 * </pre>
 *
 * Anything else in the folder is the user's: replacing a run deletes the names above
 * and nothing else.
 */
public final class RunDirectory {
    public static final String INFO = "run.json";
    public static final String MODEL = "model.onnx";
    /** The patched Optimum folder of a run that trains one. */
    public static final String MODEL_FOLDER = "model";
    public static final String ARTIFACTS = "artifacts";
    public static final String CHECKPOINTS = "checkpoints";
    public static final String METRICS = "metrics.jsonl";
    public static final String SUMMARY = "summary.json";
    public static final String DATA_CACHE = "data-cache";
    public static final String TENSORBOARD = "tb";
    public static final String EVALS = "eval";
    public static final String LOCK = ".lock";
    /** The file of artifacts/ written last: its presence says the compiled set-up is complete. */
    public static final String ARTIFACTS_MANIFEST = "artifacts.json";
    /** Everything a run writes, in the order a reader meets them. */
    static final List<String> RUN_FILES = List.of(INFO, MODEL, MODEL_FOLDER, ARTIFACTS, CHECKPOINTS, METRICS, SUMMARY,
            DATA_CACHE, TENSORBOARD, EVALS);
    static final String FORMAT = "onnx-lora run";
    private static final int VERSION = 2;
    /** {@link AtomicFiles}' temporaries and {@link Checkpoint}'s unfinished step folders. */
    private static final Pattern STRAY_FILE = Pattern.compile("\\..+\\.tmp");
    private static final Pattern STRAY_STEP = Pattern.compile("\\.step-\\d+\\..+");
    private static final Gson GSON = Json.builder().setPrettyPrinting().serializeNulls().create();

    /** What run.json records. {@code settings} is null for a run.json older than recorded settings. */
    public record Info(RunSettings settings, Long steps, Long batchesPerEpoch) {}

    private final Path dir;

    private RunDirectory(Path dir) {
        this.dir = dir;
    }

    public static RunDirectory at(Path dir) {
        return new RunDirectory(dir);
    }

    public Path dir() {
        return dir;
    }

    public Path info() {
        return dir.resolve(INFO);
    }

    public Path model() {
        return dir.resolve(MODEL);
    }

    public Path artifacts() {
        return dir.resolve(ARTIFACTS);
    }

    public Path modelFolder() {
        return dir.resolve(MODEL_FOLDER);
    }

    public Path checkpoints() {
        return dir.resolve(CHECKPOINTS);
    }

    public Path metrics() {
        return dir.resolve(METRICS);
    }

    public Path summary() {
        return dir.resolve(SUMMARY);
    }

    /** Tokenized data kept for a resumed run (unless the user names a shared cache). */
    public Path dataCache() {
        return dir.resolve(DATA_CACHE);
    }

    public Path lockFile() {
        return dir.resolve(LOCK);
    }

    /**
     * The run that {@code path} belongs to, by the layout: the run folder itself, its checkpoints/,
     * a step-N/ folder in it, or a file of one. Empty when {@code path} is none of these.
     */
    public static Optional<RunDirectory> containing(Path path) {
        Path p = path.toAbsolutePath().normalize();
        if (Files.isDirectory(at(p).checkpoints())) {
            return Optional.of(at(p));
        }
        // p is checkpoints/ (i = 0), a step-N/ in it (1) or a file of one (2)
        Path a = p;
        for (int i = 0; i < 3 && a != null; i++, a = a.getParent()) {
            if (a.getFileName() != null && a.getFileName().toString().equals(CHECKPOINTS) && a.getParent() != null
                    && Files.isDirectory(a)) {
                return Optional.of(at(a.getParent()));
            }
        }
        return Optional.empty();
    }

    /** The patched model this run trained: RUN/model.onnx, or RUN/model/ for an Optimum folder. */
    public Optional<Path> trainedModel() {
        if (Files.isRegularFile(model())) {
            return Optional.of(model());
        }
        if (Files.isRegularFile(modelFolder().resolve(ModelFiles.ENCODER))) {
            return Optional.of(modelFolder());
        }
        return Optional.empty();
    }

    /** Whether {@code path} is a folder whose run.json is onnx-lora's. */
    public static boolean isRun(Path path) {
        return Files.isDirectory(path) && at(path).ownInfo();
    }

    /**
     * What a command that reads {@code paths} reads, for {@link OutputGuard}: a run folder
     * stands for its run files (so a new file beside them, like RUN/merged.onnx, is not an
     * input), any other path for itself. Null entries are skipped.
     */
    public static List<Path> inputsOf(Path... paths) {
        List<Path> out = new ArrayList<>();
        for (Path p : paths) {
            if (p != null) {
                out.addAll(inputsOfOne(p));
            }
        }
        return out;
    }

    private static List<Path> inputsOfOne(Path path) {
        RunDirectory r = at(path);
        boolean legacy = Files.isRegularFile(r.model()) && Files.isDirectory(r.checkpoints());
        if (!Files.isDirectory(path) || !(r.ownInfo() || legacy)) {
            return List.of(path);
        }
        return RUN_FILES.stream().map(path::resolve).filter(Files::exists).toList();
    }

    /** Whether run.json exists and is onnx-lora's (an unreadable or foreign run.json is the user's file). */
    boolean ownInfo() {
        if (!Files.isRegularFile(info())) {
            return false;
        }
        try {
            JsonObject o = JsonParser.parseString(Files.readString(info())).getAsJsonObject();
            return o.has("format") ? FORMAT.equals(o.get("format").getAsString()) : o.has("fingerprint");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The first entry (by name) that no run writes; lock and stray temporaries do not count. */
    Optional<Path> foreignEntry() {
        return entries().stream().filter(p -> !RUN_FILES.contains(p.getFileName().toString())).findFirst();
    }

    /** Whether any run file exists. */
    boolean hasRunFiles() {
        return RUN_FILES.stream().anyMatch(n -> Files.exists(dir.resolve(n)));
    }

    /** Whether any checkpoint (complete or not) or checkpoint pointer exists. */
    boolean hasCheckpoints() {
        if (!Files.isDirectory(checkpoints())) {
            return false;
        }
        try (Stream<Path> s = Files.list(checkpoints())) {
            return s.map(p -> p.getFileName().toString()).anyMatch(n -> n.startsWith("step-") || n.equals(Checkpoint.LATEST));
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + checkpoints() + ": " + IoErrors.reason(e), e);
        }
    }

    /**
     * Whether the set-up finished: compiled artifacts and then the run's model, a file or an Optimum folder, each
     * of which comes into being whole (an atomic rename; {@link #writeModelFolder}).
     */
    boolean setupComplete() {
        return Files.isRegularFile(artifacts().resolve(ARTIFACTS_MANIFEST))
                && (Files.isRegularFile(model()) || Files.isDirectory(modelFolder()));
    }

    /**
     * Writes the run's patched Optimum folder ({@link #modelFolder}) with {@code write}, into a sibling first and
     * renamed into place, so that a killed set-up leaves no half-written folder that a resumed run would take for
     * the model. What an interrupted set-up of an older version left there is replaced, unless it is one of
     * {@code inputs} (refused, as {@link #deleteSetup} refuses).
     */
    public void writeModelFolder(java.util.function.Consumer<Path> write, Collection<Path> inputs) {
        Path partial = dir.resolve(MODEL_FOLDER + ".partial");
        OutputGuard.checkDeletable(List.of(partial, modelFolder()).stream().filter(Files::exists).toList(), inputs);
        try {
            if (Files.exists(partial)) {
                FileTrees.delete(partial);
            }
            write.accept(partial);
            if (Files.exists(modelFolder())) {
                FileTrees.delete(modelFolder());
            }
            Files.move(partial, modelFolder(), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + modelFolder() + ": " + IoErrors.reason(e), e);
        }
    }

    /** Entries of the folder other than the lock and stray temporaries, sorted by name. */
    private List<Path> entries() {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().equals(LOCK) && !isStray(p))
                    .sorted().toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + dir + ": " + IoErrors.reason(e), e);
        }
    }

    private static boolean isStray(Path p) {
        String n = p.getFileName().toString();
        return STRAY_FILE.matcher(n).matches() && Files.isRegularFile(p);
    }

    /**
     * Deletes what an interrupted writer left half-made: temporary files of atomic writes
     * (in the folder, artifacts/ and checkpoints/) and unfinished checkpoint folders.
     * Call only while holding the lock: a live writer's temporaries look the same.
     *
     * @return how many were removed
     */
    int cleanStrays() {
        int n = 0;
        try {
            for (Path folder : List.of(dir, artifacts(), checkpoints())) {
                if (!Files.isDirectory(folder)) {
                    continue;
                }
                List<Path> doomed;
                try (Stream<Path> s = Files.list(folder)) {
                    doomed = s.filter(p -> isStray(p) || (folder.equals(checkpoints()) && Files.isDirectory(p)
                            && STRAY_STEP.matcher(p.getFileName().toString()).matches())).toList();
                }
                for (Path p : doomed) {
                    FileTrees.delete(p);
                    n++;
                }
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot clean up " + dir + ": " + IoErrors.reason(e), e);
        }
        return n;
    }

    /** Deletes every run file, and only those; refused if one of them is or holds one of {@code inputs}. */
    void deleteRunFiles(Collection<Path> inputs) {
        delete(RUN_FILES, inputs);
    }

    /** Deletes a half-made set-up (compiled artifacts and the run's model), to be made again. */
    void deleteSetup(Collection<Path> inputs) {
        delete(List.of(MODEL, ARTIFACTS), inputs);
    }

    private void delete(List<String> names, Collection<Path> inputs) {
        List<Path> doomed = names.stream().map(dir::resolve).filter(Files::exists).toList();
        OutputGuard.checkDeletable(doomed, inputs);
        try {
            for (Path p : doomed) {
                FileTrees.delete(p);
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot delete the old run files in " + dir + ": " + IoErrors.reason(e), e);
        }
    }

    /** run.json, if the folder has onnx-lora's; a damaged one is an error naming it. */
    Optional<Info> readInfo() {
        if (!Files.isRegularFile(info())) {
            return Optional.empty();
        }
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(info())).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.IO, info() + " is damaged (not a JSON object)");
        }
        RunSettings settings = o.has("settings") ? RunSettings.fromJson(o.get("settings"), info()) : null;
        return Optional.of(new Info(settings, optionalLong(o, "steps"), optionalLong(o, "batches_per_epoch")));
    }

    private Long optionalLong(JsonObject o, String key) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        try {
            return e.getAsLong();
        } catch (RuntimeException ex) {
            throw new OnnxLoraException(ErrorCode.IO, info() + " is damaged ('" + key + "' is " + e + ")");
        }
    }

    /** Writes run.json (a run's settings, length and epoch size); public for runs set up outside {@link RunStart}. */
    public void writeInfo(Info info) {
        JsonObject o = new JsonObject();
        o.addProperty("format", FORMAT);
        o.addProperty("version", VERSION);
        o.addProperty("fingerprint", info.settings().fingerprint());
        o.addProperty("steps", info.steps());
        o.addProperty("batches_per_epoch", info.batchesPerEpoch());
        o.add("settings", info.settings().toJson());
        try {
            AtomicFiles.writeString(info(), GSON.toJson(o) + "\n");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + info() + ": " + IoErrors.reason(e), e);
        }
    }

    /** Writes summary.json and returns its text. Non-finite numbers are written as null (JSON has no NaN). */
    public String writeSummary(RunSummary s) {
        JsonObject o = new JsonObject();
        o.addProperty("steps", s.steps());
        number(o, "train_loss", s.trainLoss());
        number(o, "valid_loss", s.validLoss());
        number(o, "initial_valid_loss", s.initialValidLoss());
        number(o, "tokens_per_second", s.tokensPerSecond());
        number(o, "seconds", s.seconds());
        if (s.skippedSteps() != null) {
            number(o, "loss_scale", s.lossScale());
            o.addProperty("skipped_steps", s.skippedSteps());
        }
        o.addProperty("adapter", s.adapters());
        o.addProperty("checkpoint", s.checkpoint());
        o.addProperty("model", (Files.isDirectory(modelFolder()) ? modelFolder() : model()).toString());
        o.addProperty("metrics", metrics().toString());
        String json = GSON.toJson(o);
        try {
            AtomicFiles.writeString(summary(), json + "\n");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + summary() + ": " + IoErrors.reason(e), e);
        }
        return json;
    }

    private static void number(JsonObject o, String key, Double v) {
        if (v == null || !Double.isFinite(v)) {
            o.add(key, JsonNull.INSTANCE);
        } else {
            o.addProperty(key, v);
        }
    }

    /** The recorded summary of a finished run, if it was written. */
    public Optional<String> readSummary() {
        try {
            return Files.isRegularFile(summary()) ? Optional.of(Files.readString(summary()).strip()) : Optional.empty();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + summary() + ": " + IoErrors.reason(e), e);
        }
    }
}
