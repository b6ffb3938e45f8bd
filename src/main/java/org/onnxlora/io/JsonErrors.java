package org.onnxlora.io;

import com.google.gson.JsonElement;
import com.google.gson.JsonPrimitive;

/**
 * The reason inside a Gson failure, fit for a one-line message. Gson wraps the parser's exception
 * ("com.google.gson.stream.MalformedJsonException: Unterminated object at line 1 column 9 path $.a")
 * and appends a troubleshooting URL on a second line; the user needs neither.
 */
public final class JsonErrors {
    private JsonErrors() {}

    public static String reason(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t && t.getCause().getMessage() != null) {
            t = t.getCause();
        }
        String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
        int see = m.indexOf("\nSee ");
        if (see >= 0) {
            m = m.substring(0, see);
        }
        // a wrapped exception's toString(): "java.io.EOFException: End of input ..."
        m = m.replaceFirst("^([a-z][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_$]*: ", "");
        return m.replace('\n', ' ').strip();
    }

    /** What a JSON value is, for "is a number, expected a string" messages. */
    public static String kindOf(JsonElement v) {
        if (v.isJsonNull()) {
            return "null";
        }
        if (v.isJsonArray()) {
            return "an array";
        }
        if (v.isJsonObject()) {
            return "an object";
        }
        JsonPrimitive p = v.getAsJsonPrimitive();
        return p.isNumber() ? "a number" : p.isBoolean() ? "a boolean" : "a string";
    }
}
