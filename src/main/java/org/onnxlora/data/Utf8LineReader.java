package org.onnxlora.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;

/**
 * Strict UTF-8, decoded one physical line at a time so that malformed bytes are reported on the
 * line that holds them. A plain decoding reader works a buffer ahead of the parser: the error
 * surfaced while some earlier line was being parsed, and the line reported was wherever the buffer
 * happened to be refilled. Lines end at LF, CRLF or a lone CR, as the row parsers count them; none
 * of those bytes can occur inside a multi-byte UTF-8 sequence, so splitting there is safe.
 */
final class Utf8LineReader extends Reader {
    /** Malformed UTF-8 at a known place; {@link #line} and {@link #column} are 1-based. */
    static final class MalformedLineException extends IOException {
        private static final long serialVersionUID = 1L;
        final int line;
        final int column;
        final String what;

        MalformedLineException(int line, int column, String what) {
            super("not valid UTF-8 at line " + line + ", column " + column + " (" + what + ")");
            this.line = line;
            this.column = column;
            this.what = what;
        }
    }

    private final InputStream in;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private final byte[] buf = new byte[1 << 16];
    private int bufPos;
    private int bufLen;
    private byte[] lineBytes = new byte[1 << 12];
    private CharBuffer chars = CharBuffer.allocate(0);
    private int line;
    private boolean eof;

    Utf8LineReader(InputStream in) {
        this.in = in;
    }

    @Override
    public int read(char[] cbuf, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        while (!chars.hasRemaining()) {
            if (eof || !nextLine()) {
                eof = true;
                return -1;
            }
        }
        int n = Math.min(len, chars.remaining());
        chars.get(cbuf, off, n);
        return n;
    }

    /** Reads and decodes the next physical line (with its line break); false at the end of the input. */
    private boolean nextLine() throws IOException {
        int n = 0;
        while (true) {
            int b = readByte();
            if (b < 0) {
                break;
            }
            if (n == lineBytes.length) {
                lineBytes = Arrays.copyOf(lineBytes, n * 2);
            }
            lineBytes[n++] = (byte) b;
            if (b == '\n') {
                break;
            }
            if (b == '\r') {
                if (peekByte() == '\n') {
                    continue;
                }
                break;
            }
        }
        if (n == 0) {
            return false;
        }
        line++;
        chars = decode(n);
        return true;
    }

    private CharBuffer decode(int n) throws IOException {
        ByteBuffer bytes = ByteBuffer.wrap(lineBytes, 0, n);
        CharBuffer out = CharBuffer.allocate(n); // UTF-8 never yields more chars than bytes
        decoder.reset();
        CoderResult r = decoder.decode(bytes, out, true);
        if (!r.isError()) {
            r = decoder.flush(out);
        }
        if (r.isError()) {
            int at = bytes.position();
            String what = at < n ? String.format(Locale.ROOT, "byte 0x%02X", lineBytes[at] & 0xFF) : "a truncated character";
            throw new MalformedLineException(line, out.position() + 1, what);
        }
        out.flip();
        return out;
    }

    private int readByte() throws IOException {
        if (bufPos == bufLen && !fill()) {
            return -1;
        }
        return buf[bufPos++] & 0xFF;
    }

    private int peekByte() throws IOException {
        if (bufPos == bufLen && !fill()) {
            return -1;
        }
        return buf[bufPos] & 0xFF;
    }

    private boolean fill() throws IOException {
        int n = in.read(buf, 0, buf.length);
        if (n <= 0) {
            return false;
        }
        bufPos = 0;
        bufLen = n;
        return true;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
