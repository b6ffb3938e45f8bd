package org.onnxlora.lora;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * How one model family's attention projections look in an export: a regex over
 * module paths and how to name and classify what it matches. Loaded from
 * {@code graphs/<family>.json} so that a new family is a data change.
 */
public record ModelFamily(
        String name,
        Pattern projectionPattern,
        String canonicalPath,
        Map<String, String> roles,
        Map<String, String> stackOfFile,
        Map<String, String> blockImpliesStack,
        Pattern linearPattern,
        String logitsOutput,
        long decoderStartTokenId,
        long padTokenId) {

    /** A module path recognised as an attention projection. */
    public record Match(String canonicalPath, String role, String projection) {}

    public static ModelFamily bart() {
        return builtIn("bart");
    }

    public static ModelFamily builtIn(String name) {
        try (InputStream in = ModelFamily.class.getResourceAsStream("/graphs/" + name + ".json")) {
            if (in == null) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "no built-in model family '" + name + "'");
            }
            return parse(new InputStreamReader(in, StandardCharsets.UTF_8), "graphs/" + name + ".json");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read family " + name + ": " + IoErrors.reason(e), e);
        }
    }

    public static ModelFamily load(Path file) {
        try (Reader r = Files.newBufferedReader(file)) {
            return parse(r, file.toString());
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read family file " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static ModelFamily parse(Reader reader, String source) {
        try {
            JsonObject o = JsonParser.parseReader(reader).getAsJsonObject();
            return new ModelFamily(
                    o.get("family").getAsString(),
                    Pattern.compile(o.get("projection_pattern").getAsString()),
                    o.get("canonical_path").getAsString(),
                    stringMap(o, "roles"),
                    stringMap(o, "stack_of_file"),
                    stringMap(o, "block_implies_stack"),
                    o.has("linear_pattern") ? Pattern.compile(o.get("linear_pattern").getAsString()) : null,
                    o.has("logits_output") ? o.get("logits_output").getAsString() : "logits",
                    o.has("decoder_start_token_id") ? o.get("decoder_start_token_id").getAsLong() : 2,
                    o.has("pad_token_id") ? o.get("pad_token_id").getAsLong() : 1);
        } catch (RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "family description " + source + " is invalid: " + e, e);
        }
    }

    private static Map<String, String> stringMap(JsonObject o, String key) {
        Map<String, String> m = new LinkedHashMap<>();
        if (o.has(key)) {
            o.getAsJsonObject(key).entrySet().forEach(e -> m.put(e.getKey(), e.getValue().getAsString()));
        }
        return m;
    }

    /**
     * Recognises {@code modulePath} as an attention projection. {@code fileStack} is the
     * stack implied by an Optimum file name (null for a full model), used when the path
     * carries no {@code encoder.}/{@code decoder.} prefix.
     */
    public Optional<Match> matchProjection(String modulePath, String fileStack) {
        Matcher m = projectionPattern.matcher(modulePath);
        if (!m.matches()) {
            return Optional.empty();
        }
        String block = m.group("block");
        String stack = m.group("stack");
        if (stack == null) {
            stack = blockImpliesStack.getOrDefault(block, fileStack);
        }
        if (stack == null) {
            return Optional.empty();
        }
        String canonical = canonicalPath.replace("{stack}", stack).replace("{layer}", m.group("layer"))
                .replace("{block}", block).replace("{proj}", m.group("proj"));
        String role = roles.getOrDefault(stack + "." + block, stack + "-" + block);
        return Optional.of(new Match(canonical, role, m.group("proj")));
    }

    public boolean isOtherLinear(String modulePath) {
        return linearPattern != null && linearPattern.matcher(modulePath).matches();
    }

    /** The stack whose modules an Optimum file holds, from its file name; null for anything else. */
    public String stackOfFile(Path file) {
        if (file == null) {
            return null;
        }
        String base = file.getFileName().toString().replaceFirst("\\.onnx$", "");
        return stackOfFile.get(base);
    }
}
