package org.onnxlora.data;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.StringReader;
import org.onnxlora.io.JsonErrors;

/** JSON Lines: one object per line; blank lines are allowed and ignored. */
final class JsonlRows {
    private JsonlRows() {}

    static void read(BufferedReader in, RowCollector out) throws IOException {
        String source = out.options().sourceField();
        String target = out.options().targetField();
        String text;
        int line = 0;
        while ((text = in.readLine()) != null) {
            line++;
            if (line == 1 && text.startsWith("\uFEFF")) {
                text = text.substring(1);
            }
            if (text.isBlank()) {
                continue;
            }
            JsonObject row;
            try {
                row = parseObject(text);
            } catch (JsonParseException | IOException e) {
                out.bad(line, "invalid JSON: " + JsonErrors.reason(e));
                continue;
            }
            if (row == null) {
                out.bad(line, "not a JSON object");
                continue;
            }
            out.fields(row.keySet());
            String s = string(row, source, line, out);
            String t = s == null ? null : string(row, target, line, out);
            if (t != null) {
                out.add(line, s, t);
            }
        }
    }

    /** Strict parse (no unquoted names, no trailing garbage); null when the value is not an object. */
    private static JsonObject parseObject(String text) throws IOException {
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setStrictness(Strictness.STRICT);
        JsonElement e = JsonParser.parseReader(reader);
        if (reader.peek() != JsonToken.END_DOCUMENT) {
            throw new JsonParseException("more than one JSON value on the line");
        }
        return e.isJsonObject() ? e.getAsJsonObject() : null;
    }

    private static String string(JsonObject row, String field, int line, RowCollector out) {
        JsonElement v = row.get(field);
        if (v == null) {
            out.bad(line, "missing field '" + field + "'");
            return null;
        }
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isString()) {
            out.bad(line, "field '" + field + "' is " + JsonErrors.kindOf(v) + ", not a string");
            return null;
        }
        return v.getAsString();
    }
}
