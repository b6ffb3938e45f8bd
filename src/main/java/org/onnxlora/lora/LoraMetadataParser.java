package org.onnxlora.lora;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.JsonErrors;

/**
 * Reads the {@value LoraMetadata#KEY} JSON into {@link LoraMetadata.Info}, checking every field's
 * type and range. Fields a model written by an older version may lack take their defaults;
 * a field that is present must be well-formed. Errors name the field by its JSON path
 * ({@code modules[3].rank}) and never carry Gson's exception text.
 */
final class LoraMetadataParser {
    private static final String WHAT = "the model's '" + LoraMetadata.KEY + "' metadata";

    private LoraMetadataParser() {}

    static LoraMetadata.Info parse(String json) {
        JsonElement root;
        try {
            JsonReader r = new JsonReader(new StringReader(json));
            r.setStrictness(Strictness.STRICT);
            root = JsonParser.parseReader(r);
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw fail("has text after the JSON object");
            }
        } catch (JsonParseException | IOException e) {
            // Gson's message names its own exception classes and a troubleshooting URL: say it plainly
            throw fail("is not valid JSON");
        }
        if (!root.isJsonObject()) {
            throw fail("is not a JSON object");
        }
        JsonObject o = root.getAsJsonObject();
        int format = (int) integer(o, "format", "format", 1, 1, Integer.MAX_VALUE);
        int rank = (int) integer(o, "rank", "rank", 0, 0, Integer.MAX_VALUE);
        double alpha = number(o, "alpha", "alpha", 0);
        boolean rslora = bool(o, "useRslora", "useRslora");
        String init = string(o, "init", "init", false);
        long seed = integer(o, "seed", "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
        List<String> targets = strings(o, "targets", "targets");
        List<String> trainable = strings(o, "trainable", "trainable");
        String frozen = string(o, "frozen", "frozen", false);
        List<LoraMetadata.Module> modules = new ArrayList<>();
        JsonArray mods = array(o, "modules", "modules");
        for (int i = 0; i < mods.size(); i++) {
            String at = "modules[" + i + "]";
            JsonElement m = mods.get(i);
            if (!m.isJsonObject()) {
                throw fail(at, "is " + JsonErrors.kindOf(m) + ", expected an object");
            }
            modules.add(module(m.getAsJsonObject(), at));
        }
        return new LoraMetadata.Info(format, rank, alpha, rslora, init, seed, targets, modules, trainable, frozen);
    }

    private static LoraMetadata.Module module(JsonObject m, String at) {
        String path = string(m, "module", at + ".module", true);
        String role = string(m, "role", at + ".role", false);
        int rank = (int) integer(m, "rank", at + ".rank", -1, 1, Integer.MAX_VALUE);
        double alpha = number(m, "alpha", at + ".alpha", Double.NaN);
        double scaling = number(m, "scaling", at + ".scaling", Double.NaN);
        if (Double.isNaN(alpha) && Double.isNaN(scaling)) {
            throw fail(at, "has neither 'alpha' nor 'scaling'");
        }
        String a = string(m, "loraA", at + ".loraA", true);
        String b = string(m, "loraB", at + ".loraB", true);
        String scalingTensor = string(m, "scalingTensor", at + ".scalingTensor", false);
        String baseNode = string(m, "baseNode", at + ".baseNode", false);
        String baseWeight = string(m, "baseWeight", at + ".baseWeight", false);
        long in = integer(m, "in", at + ".in", -1, 1, Integer.MAX_VALUE);
        long out = integer(m, "out", at + ".out", -1, 1, Integer.MAX_VALUE);
        if (Double.isNaN(alpha)) {
            alpha = scaling * rank;
        }
        if (Double.isNaN(scaling)) {
            scaling = alpha / rank;
        }
        return new LoraMetadata.Module(path, role, rank, alpha, scaling, a, b, scalingTensor, baseNode, baseWeight,
                in, out);
    }

    /** An integer field in [min, max]; {@code absent} when missing (a value below min means required). */
    private static long integer(JsonObject o, String key, String at, long absent, long min, long max) {
        JsonElement e = o.get(key);
        if (e == null) {
            if (absent < min) {
                throw fail(at, "is missing");
            }
            return absent;
        }
        BigDecimal v = numeric(e, at);
        long n;
        try {
            n = v.longValueExact();
        } catch (ArithmeticException ex) {
            throw fail(at, "is " + e + ", expected a whole number");
        }
        if (n < min || n > max) {
            throw fail(at, "is " + n + ", expected " + min + (max == Long.MAX_VALUE ? " or more" : ".." + max));
        }
        return n;
    }

    /** A finite number; {@code absent} when missing. */
    private static double number(JsonObject o, String key, String at, double absent) {
        JsonElement e = o.get(key);
        if (e == null) {
            return absent;
        }
        double d = numeric(e, at).doubleValue();
        if (!Double.isFinite(d)) {
            throw fail(at, "is " + e + ", expected a finite number");
        }
        return d;
    }

    private static BigDecimal numeric(JsonElement e, String at) {
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            throw fail(at, "is " + JsonErrors.kindOf(e) + ", expected a number");
        }
        try {
            // strict JSON has already checked the literal's syntax; BigDecimal reads it exactly
            return new BigDecimal(e.getAsJsonPrimitive().getAsString());
        } catch (NumberFormatException ex) {
            throw fail(at, "is " + e + ", expected a number");
        }
    }

    private static boolean bool(JsonObject o, String key, String at) {
        JsonElement e = o.get(key);
        if (e == null) {
            return false;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw fail(at, "is " + JsonErrors.kindOf(e) + ", expected true or false");
        }
        return e.getAsBoolean();
    }

    private static String string(JsonObject o, String key, String at, boolean required) {
        JsonElement e = o.get(key);
        if (e == null || (!required && e.isJsonNull())) {
            if (required) {
                throw fail(at, "is missing");
            }
            return null;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
            throw fail(at, "is " + JsonErrors.kindOf(e) + ", expected a string");
        }
        return e.getAsString();
    }

    private static JsonArray array(JsonObject o, String key, String at) {
        JsonElement e = o.get(key);
        if (e == null) {
            return new JsonArray();
        }
        if (!e.isJsonArray()) {
            throw fail(at, "is " + JsonErrors.kindOf(e) + ", expected an array");
        }
        return e.getAsJsonArray();
    }

    private static List<String> strings(JsonObject o, String key, String at) {
        JsonArray a = array(o, key, at);
        List<String> out = new ArrayList<>(a.size());
        for (int i = 0; i < a.size(); i++) {
            JsonElement e = a.get(i);
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString()) {
                throw fail(at + "[" + i + "]", "is " + JsonErrors.kindOf(e) + ", expected a string");
            }
            out.add(e.getAsString());
        }
        return List.copyOf(out);
    }

    private static OnnxLoraException fail(String at, String message) {
        return new OnnxLoraException(ErrorCode.INVALID_MODEL, WHAT + ": field '" + at + "' " + message);
    }

    private static OnnxLoraException fail(String message) {
        return new OnnxLoraException(ErrorCode.INVALID_MODEL, WHAT + " " + message);
    }
}
