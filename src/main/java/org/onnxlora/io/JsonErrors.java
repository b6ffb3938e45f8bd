package org.onnxlora.io;

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
}
