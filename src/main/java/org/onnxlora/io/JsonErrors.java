package org.onnxlora.io;

/**
 * Gson's parse errors, reduced to the sentence a user can act on. Gson wraps the useful
 * message in a cause, prefixes it with exception class names and appends a troubleshooting
 * URL; the one line onnx-lora prints should carry none of that.
 */
public final class JsonErrors {
    private JsonErrors() {}

    /** "Unterminated object at line 1 column 20 path $.a" from any Gson exception or its causes. */
    public static String reason(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            return "malformed JSON";
        }
        int see = m.indexOf("\nSee ");
        if (see >= 0) {
            m = m.substring(0, see);
        }
        // "com.google.gson.stream.MalformedJsonException: ..." when a wrapper copied its cause's toString()
        m = m.replaceAll("(?:[a-z][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_]*(?:Exception|Error): ", "");
        return m.replace('\n', ' ').strip();
    }
}
