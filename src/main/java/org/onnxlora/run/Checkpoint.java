package org.onnxlora.run;

import org.onnxlora.lora.AdapterValues;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.DataPosition;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.Json;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;

/**
 * A training checkpoint: everything needed to continue bit for bit.
 *
 * <pre>
 *   RUN/checkpoints/step-00000120/adapters.safetensors    A and B, onnx-lora layout, float32
 *   RUN/checkpoints/step-00000120/optimizer.safetensors   exp_avg.* and exp_avg_sq.*
 *   RUN/checkpoints/step-00000120/state.json              step, data position, seed, run fingerprint
 *   RUN/checkpoints/latest                                name of the newest complete checkpoint
 * </pre>
 *
 * A checkpoint is written into a temporary folder and renamed into place, and
 * {@code latest} is updated last: a run killed at any instant leaves the previous
 * checkpoint intact and pointed to. A checkpoint of non-finite values is never written.
 * When {@code latest} is damaged (empty, naming a missing folder, or a path that leaves
 * the run) the newest complete {@code step-N} of the run is used, with a warning; a
 * checkpoint that {@code latest} names correctly but that is itself damaged is refused,
 * naming the file.
 */
public final class Checkpoint {
    public static final String ADAPTERS = "adapters.safetensors";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "state.json";
    public static final String LATEST = "latest";
    private static final Gson GSON = Json.builder().setPrettyPrinting().serializeNulls().create();
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d{1,18})");

    /** The scalar state; {@code position} is where the data stream stands after {@code step}. */
    public record State(long step, DataPosition position, long seed, String fingerprint, double lastLoss) {}

    /** A loaded checkpoint. */
    public record Loaded(Path dir, State state, AdapterValues adapters, AdapterValues expAvg,
            AdapterValues expAvgSq) {}

    /**
     * One trained tensor as a checkpoint stores it: its value and its two AdamW moments,
     * all of {@code dims}. The optimizer file names the moments {@code exp_avg.NAME} and
     * {@code exp_avg_sq.NAME}.
     */
    public record Tensor(String name, long[] dims, float[] value, float[] expAvg, float[] expAvgSq) {}

    /** The checkpoint to continue from, and why it is not the one {@code latest} names (null if it is). */
    public record Found(Path dir, String warning) {}

    private Checkpoint() {}

    /** Writes {@code tensors} and {@code state} as checkpoint step-N of the run, then points {@code latest} at it. */
    public static Path save(Path runDir, List<Tensor> tensors, State state, int keep) {
        return save(runDir, tensors, state, keep, null);
    }

    /** As {@link #save(Path, List, State, int)}, with fp16 loss scaling's state ({@code lossScale} may be null). */
    public static Path save(Path runDir, List<Tensor> tensors, State state, int keep, LossScaleState lossScale) {
        Path root = RunDirectory.at(runDir).checkpoints();
        String name = String.format("step-%08d", state.step());
        Path target = root.resolve(name);
        try {
            Files.createDirectories(root);
            SafetensorsWriter a = new SafetensorsWriter().metadata("format", "onnx-lora adapters")
                    .metadata("step", Long.toString(state.step()));
            SafetensorsWriter o = new SafetensorsWriter().metadata("format", "onnx-lora adamw state");
            for (Tensor t : tensors) {
                requireFinite(t.name(), t.value(), state.step());
                requireFinite(expAvgName(t.name()), t.expAvg(), state.step());
                requireFinite(expAvgSqName(t.name()), t.expAvgSq(), state.step());
                a.putFloats(t.name(), t.dims(), t.value());
                o.putFloats(expAvgName(t.name()), t.dims(), t.expAvg());
                o.putFloats(expAvgSqName(t.name()), t.dims(), t.expAvgSq());
            }
            Path tmp = Files.createTempDirectory(root, "." + name + ".");
            a.write(tmp.resolve(ADAPTERS));
            o.write(tmp.resolve(OPTIMIZER));
            AtomicFiles.writeString(tmp.resolve(STATE), stateJson(state));
            if (lossScale != null) {
                lossScale.write(tmp);
            }
            if (Files.exists(target)) {
                org.onnxlora.io.FileTrees.delete(target);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target);
            }
            AtomicFiles.writeString(root.resolve(LATEST), name + "\n");
            prune(root, keep, name);
            return target;
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write checkpoint " + target + ": " + IoErrors.reason(e), e);
        }
    }

    /** The optimizer file's name of the first AdamW moment of {@code tensor}. */
    public static String expAvgName(String tensor) {
        return "exp_avg." + tensor;
    }

    /** The optimizer file's name of the second AdamW moment of {@code tensor}. */
    public static String expAvgSqName(String tensor) {
        return "exp_avg_sq." + tensor;
    }

    private static void requireFinite(String tensor, float[] values, long step) {
        for (float x : values) {
            if (!Float.isFinite(x)) {
                throw new OnnxLoraException(ErrorCode.DIVERGED, tensor + " holds " + x + " after step " + step
                        + "; no checkpoint was written for it");
            }
        }
    }

    /** The newest complete checkpoint of a run, if any (see {@link #find} for how a damaged pointer is handled). */
    public static Optional<Path> latest(Path runDir) {
        return find(runDir).map(Found::dir);
    }

    /**
     * The checkpoint a resumed run continues from: the one {@code latest} names, or, when
     * {@code latest} is missing or damaged, the newest complete {@code step-N} (with a
     * warning). Empty when the run has no checkpoint at all; fails when checkpoints exist
     * but none is usable, or when the one named is damaged.
     */
    public static Optional<Found> find(Path runDir) {
        Path root = RunDirectory.at(runDir).checkpoints();
        if (!Files.isDirectory(root)) {
            return Optional.empty();
        }
        Path pointer = root.resolve(LATEST);
        String damage;
        if (Files.exists(pointer, LinkOption.NOFOLLOW_LINKS)) {
            String name;
            try {
                name = Files.readString(pointer).strip();
            } catch (IOException | RuntimeException e) {
                name = null;
            }
            damage = pointerDamage(root, name);
            if (damage == null) {
                Path dir = root.resolve(name);
                String broken = incomplete(dir);
                if (broken != null) {
                    throw new OnnxLoraException(ErrorCode.IO, "checkpoint " + dir + " is damaged: " + broken);
                }
                return Optional.of(new Found(dir, null));
            }
        } else {
            damage = "missing";
        }
        List<Path> steps = stepDirs(root);
        String firstProblem = null;
        for (int i = steps.size() - 1; i >= 0; i--) {
            String broken = incomplete(steps.get(i));
            if (broken == null) {
                return Optional.of(new Found(steps.get(i), pointer + " is " + damage + "; using "
                        + steps.get(i).getFileName() + ", the newest complete checkpoint of the run"));
            }
            if (firstProblem == null) {
                firstProblem = steps.get(i) + ": " + broken;
            }
        }
        if (firstProblem != null || !damage.equals("missing")) {
            throw new OnnxLoraException(ErrorCode.IO, pointer + " is " + damage + " and " + root
                    + " holds no complete checkpoint" + (firstProblem == null ? "" : " (" + firstProblem + ")")
                    + "; the run cannot be continued, only started over");
        }
        return Optional.empty();
    }

    /** Why {@code name} (the content of {@code latest}) is not a checkpoint of this run; null if it is one. */
    private static String pointerDamage(Path root, String name) {
        if (name == null) {
            return "unreadable";
        }
        if (name.isEmpty()) {
            return "empty";
        }
        if (!STEP_DIR.matcher(name).matches()) {
            return "damaged (it names '" + (name.length() > 60 ? name.substring(0, 60) + "…" : name)
                    + "', not a step-N folder of the run)";
        }
        Path dir = root.resolve(name);
        if (!Files.isDirectory(dir)) {
            return "dangling (it names " + name + ", which does not exist)";
        }
        try {
            if (!dir.toRealPath().getParent().equals(root.toRealPath())) {
                return "damaged (" + name + " links outside the run)";
            }
        } catch (IOException e) {
            return "dangling (" + name + " cannot be resolved: " + e.getMessage() + ")";
        }
        return null;
    }

    /** Why {@code dir} is not a complete checkpoint; null if it is. */
    private static String incomplete(Path dir) {
        for (String f : List.of(ADAPTERS, OPTIMIZER, STATE)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                return f + " is missing";
            }
        }
        try {
            readState(dir);
        } catch (OnnxLoraException e) {
            return e.getMessage();
        }
        return null;
    }

    /** step-N folders, oldest first. */
    private static List<Path> stepDirs(Path root) {
        try (Stream<Path> s = Files.list(root)) {
            // a linked step-N is not the run's own: it may be another run's checkpoint
            return s.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches()
                    && Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                    .sorted(Comparator.comparingLong(Checkpoint::stepOf)).toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + root + ": " + IoErrors.reason(e), e);
        }
    }

    private static long stepOf(Path dir) {
        Matcher m = STEP_DIR.matcher(dir.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** Reads and checks {@code dir/state.json}; every problem is one line naming the file. */
    public static State readState(Path dir) {
        Path file = dir.resolve(STATE);
        JsonObject o;
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) {
                throw damaged(file, e.isJsonNull() ? "it is empty" : "it is not a JSON object");
            }
            o = e.getAsJsonObject();
        } catch (java.nio.file.NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO, "checkpoint state " + file + " does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        } catch (JsonParseException e) {
            throw damaged(file, "it is not valid JSON");
        }
        long step = whole(o, "step", file);
        long epoch = whole(o, "epoch", file);
        long batch = whole(o, "batchIndex", file);
        long seed = whole(o, "seed", file);
        JsonElement fp = o.get("fingerprint");
        if (fp == null || !fp.isJsonPrimitive() || !fp.getAsJsonPrimitive().isString() || fp.getAsString().isEmpty()) {
            throw damaged(file, "it has no fingerprint");
        }
        if (step < 1 || epoch < 0 || batch < 0) {
            throw damaged(file, "step " + step + ", epoch " + epoch + ", batch " + batch + " (step must be >= 1, the"
                    + " others >= 0)");
        }
        long named = stepOf(dir);
        if (named >= 0 && named != step) {
            throw damaged(file, "it says step " + step + " but lies in " + dir.getFileName());
        }
        JsonElement loss = o.get("lastLoss");
        double lastLoss = loss != null && loss.isJsonPrimitive() && loss.getAsJsonPrimitive().isNumber()
                ? loss.getAsDouble() : Double.NaN;
        return new State(step, new DataPosition(epoch, batch), seed, fp.getAsString(), lastLoss);
    }

    private static long whole(JsonObject o, String key, Path file) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            throw damaged(file, "'" + key + "' is missing");
        }
        try {
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
                throw new NumberFormatException();
            }
            return new BigDecimal(e.getAsString()).longValueExact();
        } catch (NumberFormatException | ArithmeticException ex) {
            throw damaged(file, "'" + key + "' is " + e + ", not a whole number");
        }
    }

    private static OnnxLoraException damaged(Path file, String why) {
        return new OnnxLoraException(ErrorCode.IO, "checkpoint state " + file + " is damaged: " + why);
    }

    /** state.json, written field by field: a non-finite loss is recorded as null, not as invalid JSON. */
    private static String stateJson(State s) {
        JsonObject o = new JsonObject();
        o.addProperty("step", s.step());
        o.addProperty("epoch", s.position().epoch());
        o.addProperty("batchIndex", s.position().batch());
        o.addProperty("seed", s.seed());
        o.addProperty("fingerprint", s.fingerprint());
        if (Double.isFinite(s.lastLoss())) {
            o.addProperty("lastLoss", s.lastLoss());
        } else {
            o.add("lastLoss", JsonNull.INSTANCE);
        }
        return GSON.toJson(o);
    }

    public static Loaded load(Path dir) {
        State state = readState(dir);
        Map<String, float[]> adapters = new LinkedHashMap<>();
        Map<String, float[]> m = new LinkedHashMap<>();
        Map<String, float[]> v = new LinkedHashMap<>();
        Path opt = dir.resolve(OPTIMIZER);
        if (!Files.isRegularFile(opt)) {
            throw new OnnxLoraException(ErrorCode.IO, "checkpoint " + dir + " is damaged: " + OPTIMIZER
                    + " (the AdamW moments) is missing");
        }
        try (SafetensorsFile a = SafetensorsFile.open(dir.resolve(ADAPTERS)); SafetensorsFile o = SafetensorsFile.open(opt)) {
            for (String n : a.names()) {
                adapters.put(n, a.floats(n));
                m.put(n, o.floats(expAvgName(n)));
                v.put(n, o.floats(expAvgSqName(n)));
            }
        } catch (RuntimeException e) {
            if (e instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.IO, "cannot read checkpoint " + dir + ": " + IoErrors.reason(e), e);
        }
        return new Loaded(dir, state, AdapterValues.of(adapters), AdapterValues.of(m), AdapterValues.of(v));
    }

    /** Adapter tensors only: from a checkpoint folder, a run folder (its latest checkpoint) or a safetensors file. */
    public static AdapterValues adapters(Path path) {
        Path file = path;
        if (Files.isDirectory(path)) {
            Path dir = Files.exists(path.resolve(ADAPTERS)) ? path : latest(path).orElseThrow(() ->
                    new OnnxLoraException(ErrorCode.IO, path + " holds no checkpoint"));
            file = dir.resolve(ADAPTERS);
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String n : f.names()) {
                out.put(n, f.floats(n));
            }
        }
        return AdapterValues.of(out);
    }

    private static void prune(Path root, int keep, String newest) throws IOException {
        if (keep <= 0) {
            return;
        }
        List<Path> all = stepDirs(root);
        for (int i = 0; i < all.size() - keep; i++) {
            if (!all.get(i).getFileName().toString().equals(newest)) {
                org.onnxlora.io.FileTrees.delete(all.get(i));
            }
        }
    }
}
