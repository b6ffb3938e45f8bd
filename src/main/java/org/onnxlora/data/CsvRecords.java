package org.onnxlora.data;

import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits RFC 4180 text into records: fields separated by one delimiter character, optionally
 * wrapped in double quotes, a doubled quote standing for one quote, quoted fields free to hold
 * delimiters and line breaks; records end at LF, CRLF or CR. Written here rather than taken
 * from a library because the reader needs the physical line every record starts on, and a
 * malformed record must be reportable and skippable without losing the rest of the file.
 *
 * <p>Unquoted fields are taken as they are (a stray quote inside one is kept, as Python's csv
 * does). Text after a closing quote makes the record malformed ({@link #error()}); an
 * unterminated quote runs to the end of the file and is {@link #fatal()}.
 */
final class CsvRecords {
    private static final int EOF = -1;

    private final Reader in;
    private final char delimiter;
    private final char[] buf = new char[1 << 16];
    private int pos;
    private int len;
    private int line = 1;
    private int startLine;
    private String error;
    private boolean fatal;
    private boolean blank;

    CsvRecords(Reader in, char delimiter) {
        this.in = in;
        this.delimiter = delimiter;
    }

    /** The next record, or null at the end of the input. */
    List<String> next() throws IOException {
        if (peek() == EOF) {
            return null;
        }
        if (line == 1 && pos == 0 && peek() == '\uFEFF') {
            read();
        }
        error = null;
        fatal = false;
        startLine = line;
        List<String> fields = new ArrayList<>();
        StringBuilder sb = new StringBuilder();
        boolean anyQuoted = false;
        while (true) {
            int c = read();
            if (c == '"') {
                anyQuoted = true;
                c = quoted(sb);
            } else {
                while (c != delimiter && c != '\n' && c != '\r' && c != EOF) {
                    sb.append((char) c);
                    c = read();
                }
            }
            fields.add(sb.toString());
            sb.setLength(0);
            if (c == delimiter) {
                continue;
            }
            if (c == '\r' && peek() == '\n') {
                read();
            }
            if (c != EOF) {
                line++;
            }
            blank = !anyQuoted && fields.size() == 1 && fields.get(0).isBlank();
            return fields;
        }
    }

    /** Reads a quoted field after its opening quote; returns the character that ends the field. */
    private int quoted(StringBuilder sb) throws IOException {
        while (true) {
            int c = read();
            if (c == EOF) {
                error = "unterminated quoted field (the closing \" is missing)";
                fatal = true;
                return EOF;
            }
            if (c == '"') {
                if (peek() == '"') {
                    read();
                    sb.append('"');
                    continue;
                }
                break;
            }
            if (c == '\n' || (c == '\r' && peek() != '\n')) {
                line++;
            }
            sb.append((char) c);
        }
        int c = read();
        if (c != delimiter && c != '\n' && c != '\r' && c != EOF && error == null) {
            error = "unexpected text after a closing quote (a quote inside a quoted field must be doubled: \"\")";
        }
        while (c != delimiter && c != '\n' && c != '\r' && c != EOF) {
            sb.append((char) c);
            c = read();
        }
        return c;
    }

    /** Line the last record started on (1-based). */
    int startLine() {
        return startLine;
    }

    /** Why the last record is malformed, or null. */
    String error() {
        return error;
    }

    /** The last record's error consumed the rest of the input, so skipping it would hide data. */
    boolean fatal() {
        return fatal;
    }

    /** The last record was an empty or whitespace-only line. */
    boolean blank() {
        return blank;
    }

    private int read() throws IOException {
        if (pos == len && !fill()) {
            return EOF;
        }
        return buf[pos++];
    }

    private int peek() throws IOException {
        if (pos == len && !fill()) {
            return EOF;
        }
        return buf[pos];
    }

    private boolean fill() throws IOException {
        int n = in.read(buf, 0, buf.length);
        if (n <= 0) {
            return false;
        }
        pos = 0;
        len = n;
        return true;
    }
}
