package org.onnxlora.train;

import com.google.gson.Gson;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.Json;
import org.onnxlora.io.JsonErrors;
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
 * checkpoint intact and pointed to.
 */
public final class Checkpoint {
    public static final String ADAPTERS = "adapters.safetensors";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String STATE = "state.json";
    public static final String LATEST = "latest";
    private static final Gson GSON = Json.builder().setPrettyPrinting().create();

    /** The scalar state. */
    public record State(long step, long epoch, long batchIndex, long seed, String fingerprint, double lastLoss) {}

    /** A loaded checkpoint. */
    public record Loaded(Path dir, State state, Map<String, float[]> adapters, Map<String, float[]> expAvg,
            Map<String, float[]> expAvgSq) {}

    private Checkpoint() {}

    public static Path save(Path runDir, TrainingSession s, State state, int keep) {
        Path root = runDir.resolve("checkpoints");
        String name = String.format("step-%08d", state.step());
        Path target = root.resolve(name);
        try {
            Files.createDirectories(root);
            Path tmp = Files.createTempDirectory(root, "." + name + ".");
            SafetensorsWriter a = new SafetensorsWriter().metadata("format", "onnx-lora adapters")
                    .metadata("step", Long.toString(state.step()));
            SafetensorsWriter o = new SafetensorsWriter().metadata("format", "onnx-lora adamw state");
            for (AdapterSpec spec : s.adapters()) {
                a.putFloats(spec.name(), spec.dims(), s.adapter(spec.name()));
                o.putFloats(AdapterSpec.expAvg(spec.name()), spec.dims(), s.expAvg(spec.name()));
                o.putFloats(AdapterSpec.expAvgSq(spec.name()), spec.dims(), s.expAvgSq(spec.name()));
            }
            a.write(tmp.resolve(ADAPTERS));
            o.write(tmp.resolve(OPTIMIZER));
            AtomicFiles.writeString(tmp.resolve(STATE), GSON.toJson(state));
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
            throw new OnnxLoraException(ErrorCode.IO, "cannot write checkpoint " + target + ": " + e.getMessage(), e);
        }
    }

    /** The newest complete checkpoint of a run, if any. */
    public static Optional<Path> latest(Path runDir) {
        Path root = runDir.resolve("checkpoints");
        Path pointer = root.resolve(LATEST);
        try {
            if (Files.exists(pointer)) {
                Path p = root.resolve(Files.readString(pointer).trim());
                if (Files.exists(p.resolve(STATE))) {
                    return Optional.of(p);
                }
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + pointer + ": " + e.getMessage(), e);
        }
        return Optional.empty();
    }

    public static Loaded load(Path dir) {
        try {
            State state = GSON.fromJson(Files.readString(dir.resolve(STATE)), State.class);
            Map<String, float[]> adapters = new LinkedHashMap<>();
            Map<String, float[]> m = new LinkedHashMap<>();
            Map<String, float[]> v = new LinkedHashMap<>();
            try (SafetensorsFile a = SafetensorsFile.open(dir.resolve(ADAPTERS))) {
                for (String n : a.names()) {
                    adapters.put(n, a.floats(n));
                }
            }
            Path opt = dir.resolve(OPTIMIZER);
            if (Files.exists(opt)) {
                try (SafetensorsFile o = SafetensorsFile.open(opt)) {
                    for (String n : adapters.keySet()) {
                        m.put(n, o.floats(AdapterSpec.expAvg(n)));
                        v.put(n, o.floats(AdapterSpec.expAvgSq(n)));
                    }
                }
            }
            return new Loaded(dir, state, adapters, m, v);
        } catch (IOException | RuntimeException e) {
            if (e instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.IO, "cannot read checkpoint " + dir + ": " + JsonErrors.reason(e), e);
        }
    }

    /** Adapter tensors only: from a checkpoint folder, a run folder (its latest checkpoint) or a safetensors file. */
    public static Map<String, float[]> adapters(Path path) {
        Path file = path;
        if (Files.isDirectory(path)) {
            Path dir = Files.exists(path.resolve(ADAPTERS)) ? path : latest(path).orElseThrow(() ->
                    new OnnxLoraException(ErrorCode.IO, path + " holds no checkpoint (no checkpoints/latest)"));
            file = dir.resolve(ADAPTERS);
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (String n : f.names()) {
                out.put(n, f.floats(n));
            }
        }
        return out;
    }

    private static void prune(Path root, int keep, String newest) throws IOException {
        if (keep <= 0) {
            return;
        }
        List<Path> all = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(p -> p.getFileName().toString().startsWith("step-") && Files.isDirectory(p)).sorted().forEach(all::add);
        }
        for (int i = 0; i < all.size() - keep; i++) {
            if (!all.get(i).getFileName().toString().equals(newest)) {
                org.onnxlora.io.FileTrees.delete(all.get(i));
            }
        }
    }
}
