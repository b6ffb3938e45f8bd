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
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.JsonErrors;

/**
 * What DJL does not expose about a {@code tokenizer.json}: the vocabulary size and the ids of
 * the added (special) tokens. Read with Gson, next to DJL's own parse of the same file.
 */
record TokenizerFile(int vocabSize, Map<String, Integer> addedTokens) {

    static TokenizerFile read(Path file) {
        JsonObject root;
        try (Reader r = Files.newBufferedReader(file)) {
            JsonElement e = JsonParser.parseReader(r);
            if (!e.isJsonObject()) {
                throw invalid(file, "not a JSON object");
            }
            root = e.getAsJsonObject();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read tokenizer " + file + ": " + IoErrors.reason(e), e);
        } catch (JsonParseException e) {
            throw new OnnxLoraException(ErrorCode.IO, "invalid tokenizer " + file + ": not valid JSON ("
                    + JsonErrors.reason(e) + ")", e);
        }
        int maxId = -1;
        Map<String, Integer> added = new HashMap<>();
        JsonElement addedJson = root.get("added_tokens");
        if (addedJson != null && !addedJson.isJsonNull()) {
            if (!addedJson.isJsonArray()) {
                throw invalid(file, "added_tokens is not a list");
            }
            JsonArray list = addedJson.getAsJsonArray();
            for (int i = 0; i < list.size(); i++) {
                String where = "added_tokens[" + i + "]";
                if (!list.get(i).isJsonObject()) {
                    throw invalid(file, where + " is not an object");
                }
                JsonObject o = list.get(i).getAsJsonObject();
                int id = tokenId(file, o.get("id"), where + ".id");
                JsonElement content = o.get("content");
                if (content == null || !content.isJsonPrimitive() || !content.getAsJsonPrimitive().isString()) {
                    throw invalid(file, where + ".content is not a string");
                }
                added.put(content.getAsString(), id);
                maxId = Math.max(maxId, id);
            }
        }
        JsonElement model = root.get("model");
        if (model == null || !model.isJsonObject() || !model.getAsJsonObject().has("vocab")) {
            throw invalid(file, "no model.vocab (is this a Hugging Face tokenizer.json?)");
        }
        JsonElement vocab = model.getAsJsonObject().get("vocab");
        if (vocab.isJsonObject()) {
            // BPE, WordPiece, WordLevel: token -> id.
            for (Map.Entry<String, JsonElement> e : vocab.getAsJsonObject().entrySet()) {
                maxId = Math.max(maxId, tokenId(file, e.getValue(), "model.vocab[\"" + e.getKey() + "\"]"));
            }
        } else if (vocab.isJsonArray()) {
            // Unigram: [[token, score], ...], the id is the position.
            JsonArray a = vocab.getAsJsonArray();
            maxId = Math.max(maxId, a.size() - 1);
        } else {
            throw invalid(file, "model.vocab is neither an object nor an array");
        }
        // Ids are dense in practice; max id + 1 is what an embedding table must hold.
        return new TokenizerFile(maxId + 1, Map.copyOf(added));
    }

    /** A token id: a whole number from 0 to Integer.MAX_VALUE - 1 (the vocabulary size must fit an int). */
    private static int tokenId(Path file, JsonElement v, String where) {
        if (v == null || !v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) {
            throw invalid(file, where + " is not a token id (a number)");
        }
        double d = v.getAsDouble();
        if (d != Math.rint(d) || d < 0 || d >= Integer.MAX_VALUE) {
            throw invalid(file, where + " is " + v + ", not a token id (a whole number >= 0)");
        }
        return (int) d;
    }

    SpecialTokens specialTokens() {
        return new SpecialTokens(id("<pad>"), id("<s>"), id("</s>"), id("<unk>"));
    }

    private int id(String token) {
        return addedTokens.getOrDefault(token, SpecialTokens.ABSENT);
    }

    private static OnnxLoraException invalid(Path file, String what) {
        return new OnnxLoraException(ErrorCode.IO, "invalid tokenizer " + file + ": " + what);
    }
}
