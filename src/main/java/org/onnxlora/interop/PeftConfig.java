package org.onnxlora.interop;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * The parts of PEFT's {@code adapter_config.json} that decide what a LoRA adapter
 * computes, with PEFT's own matching rules:
 * <ul>
 * <li>{@code target_modules}: a list selects a module whose key equals an entry or ends
 *     with {@code "." + entry}; a single string is a regex that must match the whole key.
 * <li>{@code rank_pattern}/{@code alpha_pattern}: the first key {@code k} (in file order) with
 *     {@code re.match(r"(.*\.)?(k)$", module)} gives the module's rank/alpha; else {@code r}/{@code lora_alpha}.
 * <li>scaling = alpha/r, or alpha/√r with {@code use_rslora}.
 * <li>{@code fan_in_fan_out} only transposes the merged delta for GPT-2-style Conv1D layers whose
 *     weight is stored {@code [in,out]}; lora_A/lora_B are plain Linear layers either way, and for
 *     {@code nn.Linear} targets (BART's) PEFT resets it to false. It never changes the factors' meaning.
 * </ul>
 */
public record PeftConfig(String peftType, int r, double loraAlpha, List<String> targetList, String targetRegex,
        boolean useRslora, Map<String, Integer> rankPattern, Map<String, Double> alphaPattern, boolean fanInFanOut,
        List<Integer> layersToTransform, String taskType, String baseModel, String bias, boolean useDora) {

    public static final String FILE = "adapter_config.json";
    private static final Pattern LAYER = Pattern.compile("(?:^|\\.)(?:layers|h|block|blocks|layer)\\.(\\d+)\\.");

    public static PeftConfig read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new OnnxLoraException(ErrorCode.IO, dir + " has no " + FILE + " (a PEFT adapter folder holds "
                    + FILE + " and adapter_model.safetensors, as written by save_pretrained)");
        }
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        } catch (JsonParseException | IllegalStateException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + " is not a JSON object: " + e.getMessage(), e);
        }
        String type = string(o, "peft_type", file);
        if (type == null || !type.equalsIgnoreCase("LORA")) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": 'peft_type' is "
                    + (type == null ? "missing" : "\"" + type + "\"") + "; only LORA adapters can be imported");
        }
        int r = (int) number(o, "r", 8, file);
        if (r <= 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": 'r' must be positive, got " + r);
        }
        double alpha = number(o, "lora_alpha", 8, file);
        List<String> list = null;
        String regex = null;
        JsonElement t = o.get("target_modules");
        if (t != null && t.isJsonArray()) {
            list = new ArrayList<>();
            for (JsonElement e : t.getAsJsonArray()) {
                list.add(e.getAsString());
            }
        } else if (t != null && t.isJsonPrimitive()) {
            regex = t.getAsString();
            checkRegex(regex, "target_modules", file);
        }
        Map<String, Integer> ranks = new LinkedHashMap<>();
        pattern(o, "rank_pattern", file).forEach((k, v) -> {
            if (v <= 0 || v != Math.rint(v)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": 'rank_pattern' entry '" + k
                        + "' must be a positive integer, got " + v);
            }
            ranks.put(k, (int) (double) v);
        });
        Map<String, Double> alphas = pattern(o, "alpha_pattern", file);
        List<Integer> layers = null;
        JsonElement l = o.get("layers_to_transform");
        if (l != null && !l.isJsonNull()) {
            layers = new ArrayList<>();
            if (l.isJsonArray()) {
                for (JsonElement e : l.getAsJsonArray()) {
                    layers.add(e.getAsInt());
                }
            } else {
                layers.add(l.getAsInt());
            }
        }
        return new PeftConfig(type, r, alpha, list, regex, bool(o, "use_rslora"), ranks, alphas,
                bool(o, "fan_in_fan_out"), layers, string(o, "task_type", file),
                string(o, "base_model_name_or_path", file), string(o, "bias", file), bool(o, "use_dora"));
    }

    /** PEFT's get_pattern_key: the first pattern key matching the module key's tail. */
    static String patternKey(Iterable<String> keys, String moduleKey) {
        for (String k : keys) {
            if (Pattern.compile("(.*\\.)?(" + k + ")$").matcher(moduleKey).matches()) {
                return k;
            }
        }
        return null;
    }

    public int rankFor(String moduleKey) {
        String k = patternKey(rankPattern.keySet(), moduleKey);
        return k == null ? r : rankPattern.get(k);
    }

    public double alphaFor(String moduleKey) {
        String k = patternKey(alphaPattern.keySet(), moduleKey);
        return k == null ? loraAlpha : alphaPattern.get(k);
    }

    /** Where rankFor's value came from, for messages. */
    String rankSource(String moduleKey) {
        String k = patternKey(rankPattern.keySet(), moduleKey);
        return k == null ? "'r'" : "'rank_pattern' entry '" + k + "'";
    }

    /** PEFT's check_target_module_exists (plus layers_to_transform) for one module key. */
    public boolean targets(String moduleKey) {
        boolean hit;
        if (targetRegex != null) {
            hit = Pattern.compile(targetRegex).matcher(moduleKey).matches();
        } else if (targetList != null) {
            hit = targetList.stream().anyMatch(t -> moduleKey.equals(t) || moduleKey.endsWith("." + t));
        } else {
            hit = false;
        }
        if (hit && layersToTransform != null) {
            Matcher m = LAYER.matcher(moduleKey);
            hit = m.find() && layersToTransform.contains(Integer.parseInt(m.group(1)));
        }
        return hit;
    }

    private static String string(JsonObject o, String key, Path file) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (!e.isJsonPrimitive()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": '" + key + "' must be a string, got " + e);
        }
        return e.getAsString();
    }

    private static double number(JsonObject o, String key, double dflt, Path file) {
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return dflt;
        }
        try {
            double v = e.getAsDouble();
            if (!Double.isFinite(v)) {
                throw new NumberFormatException();
            }
            return v;
        } catch (RuntimeException ex) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": '" + key + "' must be a number, got " + e);
        }
    }

    private static boolean bool(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonPrimitive() && e.getAsJsonPrimitive().isBoolean() && e.getAsBoolean();
    }

    private static Map<String, Double> pattern(JsonObject o, String key, Path file) {
        Map<String, Double> out = new LinkedHashMap<>();
        JsonElement e = o.get(key);
        if (e == null || e.isJsonNull()) {
            return out;
        }
        if (!e.isJsonObject()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": '" + key + "' must be an object, got " + e);
        }
        for (Map.Entry<String, JsonElement> en : e.getAsJsonObject().entrySet()) {
            checkRegex(en.getKey(), key, file);
            try {
                out.put(en.getKey(), en.getValue().getAsDouble());
            } catch (RuntimeException ex) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": '" + key + "' entry '" + en.getKey()
                        + "' must be a number, got " + en.getValue());
            }
        }
        return out;
    }

    private static void checkRegex(String regex, String key, Path file) {
        try {
            Pattern.compile(regex);
        } catch (PatternSyntaxException ex) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": '" + key + "' entry '" + regex
                    + "' is not a valid regular expression: " + ex.getDescription());
        }
    }

    /** A JSON list of strings. */
    static JsonArray array(Iterable<String> values) {
        JsonArray a = new JsonArray();
        values.forEach(a::add);
        return a;
    }
}
