package org.onnxlora.data;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * What DJL does not expose about a {@code tokenizer.json}: the vocabulary size and the ids of
 * the added (special) tokens. Read with Gson, next to DJL's own parse of the same file.
 */
record TokenizerFile(int vocabSize, Map<String, Integer> addedTokens) {

    static TokenizerFile read(Path file) {
        try {
            return parse(file);
        } catch (IllegalStateException | ClassCastException | NumberFormatException | NullPointerException e) {
            // Gson's getAs* throw these when an element has another shape than expected.
            throw invalid(file, "unexpected structure (" + e.getMessage() + ")", e);
        }
    }

    private static TokenizerFile parse(Path file) {
        JsonObject root;
        try (Reader r = Files.newBufferedReader(file)) {
            JsonElement e = JsonParser.parseReader(r);
            if (!e.isJsonObject()) {
                throw invalid(file, "not a JSON object", null);
            }
            root = e.getAsJsonObject();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read tokenizer " + file + ": " + e.getMessage(), e);
        } catch (JsonParseException e) {
            throw invalid(file, "not valid JSON (" + e.getMessage() + ")", e);
        }
        int maxId = -1;
        Map<String, Integer> added = new HashMap<>();
        JsonElement addedJson = root.get("added_tokens");
        if (addedJson != null && addedJson.isJsonArray()) {
            for (JsonElement t : addedJson.getAsJsonArray()) {
                JsonObject o = t.getAsJsonObject();
                int id = o.get("id").getAsInt();
                added.put(o.get("content").getAsString(), id);
                maxId = Math.max(maxId, id);
            }
        }
        JsonElement model = root.get("model");
        if (model == null || !model.isJsonObject() || !model.getAsJsonObject().has("vocab")) {
            throw invalid(file, "no model.vocab (is this a Hugging Face tokenizer.json?)", null);
        }
        JsonElement vocab = model.getAsJsonObject().get("vocab");
        if (vocab.isJsonObject()) {
            // BPE, WordPiece, WordLevel: token -> id.
            for (Map.Entry<String, JsonElement> e : vocab.getAsJsonObject().entrySet()) {
                maxId = Math.max(maxId, e.getValue().getAsInt());
            }
        } else if (vocab.isJsonArray()) {
            // Unigram: [[token, score], ...], the id is the position.
            JsonArray a = vocab.getAsJsonArray();
            maxId = Math.max(maxId, a.size() - 1);
        } else {
            throw invalid(file, "model.vocab is neither an object nor an array", null);
        }
        // Ids are dense in practice; max id + 1 is what an embedding table must hold.
        return new TokenizerFile(maxId + 1, Map.copyOf(added));
    }

    SpecialTokens specialTokens() {
        return new SpecialTokens(id("<pad>"), id("<s>"), id("</s>"), id("<unk>"));
    }

    private int id(String token) {
        return addedTokens.getOrDefault(token, SpecialTokens.ABSENT);
    }

    private static OnnxLoraException invalid(Path file, String what, Throwable cause) {
        return new OnnxLoraException(ErrorCode.IO, "invalid tokenizer " + file + ": " + what, cause);
    }
}
