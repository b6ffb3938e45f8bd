package org.onnxlora.run;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.ModelMetadataProps;
import org.onnxlora.lora.LoraMetadata;

/**
 * A run folder's settings for people to read and compare: name → value as text, from
 * {@code run.json} (its recorded settings when it has them, else its top-level values)
 * and the LoRA shape that the run's patched {@code model.onnx} carries. Names lose a
 * leading "--" so both sources agree on e.g. "rank"; the first source to name a setting
 * wins. Bookkeeping that differs between any two runs (the fingerprint) is left out.
 */
public final class RunDescription {
    public static final String INFO = RunDirectory.INFO;
    public static final String MODEL = RunDirectory.MODEL;
    private static final Set<String> BOOKKEEPING = Set.of("fingerprint", "format", "version", "settings");

    private RunDescription() {}

    /** Whether {@code dir} looks like a run folder (has run.json or metrics.jsonl). */
    public static boolean isRun(Path dir) {
        return Files.isDirectory(dir) && (Files.isRegularFile(dir.resolve(INFO))
                || Files.isRegularFile(dir.resolve(RunDirectory.METRICS)));
    }

    /** The settings of the run in {@code dir}; empty when it has neither run.json nor a patched model. */
    public static Map<String, String> settings(Path dir) {
        Map<String, String> out = new LinkedHashMap<>();
        readInfo(dir.resolve(INFO)).ifPresent(o -> {
            JsonObject recorded = o.has("settings") && o.get("settings").isJsonObject()
                    ? o.getAsJsonObject("settings") : null;
            if (recorded != null && recorded.has("values") && recorded.get("values").isJsonObject()) {
                flatten("", recorded.getAsJsonObject("values"), out);
            }
            JsonObject top = new JsonObject();
            o.entrySet().stream().filter(e -> !BOOKKEEPING.contains(e.getKey()))
                    .forEach(e -> top.add(e.getKey(), e.getValue()));
            flatten("", top, out);
        });
        Path model = dir.resolve(MODEL);
        if (Files.isRegularFile(model)) {
            LoraMetadata.read(ModelMetadataProps.read(model)).ifPresent(l -> {
                out.putIfAbsent("rank", Integer.toString(l.rank()));
                out.putIfAbsent("alpha", number(l.alpha()));
                out.putIfAbsent("target", String.join(",", l.targets()));
                out.putIfAbsent("use_rslora", Boolean.toString(l.useRslora()));
                out.putIfAbsent("init", l.init());
            });
        }
        return out;
    }

    private static Optional<JsonObject> readInfo(Path file) {
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
            if (!e.isJsonObject()) {
                throw new OnnxLoraException(ErrorCode.IO, file + " is damaged (not a JSON object)");
            }
            return Optional.of(e.getAsJsonObject());
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        } catch (RuntimeException e) {
            if (e instanceof OnnxLoraException) {
                throw e;
            }
            throw new OnnxLoraException(ErrorCode.IO, file + " is damaged (not valid JSON: " + e.getMessage() + ")", e);
        }
    }

    private static void flatten(String prefix, JsonObject o, Map<String, String> out) {
        for (Map.Entry<String, JsonElement> e : o.entrySet()) {
            String name = prefix + (e.getKey().startsWith("--") ? e.getKey().substring(2) : e.getKey());
            JsonElement v = e.getValue();
            if (v.isJsonObject()) {
                flatten(name + ".", v.getAsJsonObject(), out);
            } else {
                out.putIfAbsent(name, v.isJsonNull() ? "" : v.isJsonPrimitive() ? v.getAsString() : v.toString());
            }
        }
    }

    private static String number(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }
}
