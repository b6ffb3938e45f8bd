package org.onnxlora.data;

/** The 1-based number of the line being read, kept outside the parsers so I/O errors can name it. */
final class LineCounter {
    private int line;

    /** Moves to the next line and returns its number. */
    int next() {
        return ++line;
    }

    /** Adds {@code n} lines (a record spanning several lines). */
    void advance(int n) {
        line += n;
    }

    int current() {
        return line;
    }
}
