package org.onnxlora.fuzz;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Byte- and text-level mutations of a seed input, the classic fuzzer repertoire. */
final class Mutate {
    private Mutate() {}

    private static final byte[] INTERESTING = {0, 1, -1, 0x7f, (byte) 0x80, 0x40, 0x20, '"', '{', '}', '[', ']', ',',
            ':', '\n', '\\', '-', '0', '9', 'e', (byte) 0xc3, (byte) 0xff};

    private static final String[] TOKENS = {"null", "-1", "0", "1.5", "1e400", "-1e400", "NaN", "Infinity",
            "9223372036854775807", "9223372036854775808", "18446744073709551616", "2147483648", "4294967296",
            "\"\"", "\"x\"", "[]", "{}", "true", "[[[[[[[[", "]]]]", "\"\\ud800\"", ",", ":", "\"F32\"", "\"I64\"",
            "\"BOOL\"", "\"F4\"", "\"U64\"", "\"__metadata__\"", "\"modules\"", "\"shape\"", "\"data_offsets\"",
            "\"dtype\"", "\"rank\"", "\"trainable\"", "\"step\"", "\"fingerprint\"", "\"source\"", "\"target\""};

    /** One to {@code max} random byte mutations of {@code seed} (never the seed itself unchanged). */
    static byte[] bytes(byte[] seed, SplittableRandom r, int max) {
        byte[] b = seed.clone();
        int rounds = 1 + r.nextInt(max);
        for (int k = 0; k < rounds; k++) {
            b = once(b, r);
        }
        return b;
    }

    private static byte[] once(byte[] b, SplittableRandom r) {
        if (b.length == 0) {
            return new byte[] {(byte) r.nextInt(256)};
        }
        int at = r.nextInt(b.length);
        switch (r.nextInt(9)) {
            case 0 -> b[at] ^= (byte) (1 << r.nextInt(8)); // bit flip
            case 1 -> b[at] = INTERESTING[r.nextInt(INTERESTING.length)];
            case 2 -> b[at] = (byte) r.nextInt(256);
            case 3 -> b = Arrays.copyOf(b, r.nextInt(b.length)); // truncate
            case 4 -> { // delete a range
                int len = 1 + r.nextInt(Math.min(64, b.length - at));
                byte[] c = new byte[b.length - len];
                System.arraycopy(b, 0, c, 0, at);
                System.arraycopy(b, at + len, c, at, b.length - at - len);
                b = c;
            }
            case 5 -> { // insert random bytes
                int len = 1 + r.nextInt(16);
                byte[] c = new byte[b.length + len];
                System.arraycopy(b, 0, c, 0, at);
                for (int i = 0; i < len; i++) {
                    c[at + i] = (byte) r.nextInt(256);
                }
                System.arraycopy(b, at, c, at + len, b.length - at);
                b = c;
            }
            case 6 -> { // duplicate a chunk
                int len = 1 + r.nextInt(Math.min(256, b.length - at));
                byte[] c = new byte[b.length + len];
                System.arraycopy(b, 0, c, 0, at + len);
                System.arraycopy(b, at, c, at + len, b.length - at);
                b = c;
            }
            case 7 -> { // overwrite a little-endian 32/64-bit word with an extreme value
                long[] v = {0, -1, Integer.MAX_VALUE, 1L << 31, 1L << 32, Long.MAX_VALUE, Long.MIN_VALUE, 1L << 40};
                long x = v[r.nextInt(v.length)];
                for (int i = 0; i < 8 && at + i < b.length; i++) {
                    b[at + i] = (byte) (x >>> (8 * i));
                }
            }
            default -> { // varint-ish: set the high bit run (protobuf lengths)
                for (int i = 0; i < 1 + r.nextInt(9) && at + i < b.length; i++) {
                    b[at + i] |= (byte) 0x80;
                }
            }
        }
        return b;
    }

    /** Token-level mutations of text (JSON, CSV): numbers, nulls, quotes and brackets where they hurt most. */
    static String text(String seed, SplittableRandom r, int max) {
        StringBuilder s = new StringBuilder(seed);
        int rounds = 1 + r.nextInt(max);
        for (int k = 0; k < rounds; k++) {
            int at = s.length() == 0 ? 0 : r.nextInt(s.length() + 1);
            switch (r.nextInt(5)) {
                case 0 -> s.insert(at, TOKENS[r.nextInt(TOKENS.length)]);
                case 1 -> { // replace a token-sized span
                    int end = Math.min(s.length(), at + 1 + r.nextInt(12));
                    s.replace(at, end, TOKENS[r.nextInt(TOKENS.length)]);
                }
                case 2 -> { // replace the next number with an extreme one
                    int d = indexOfDigit(s, at);
                    if (d >= 0) {
                        int end = d;
                        while (end < s.length() && "0123456789.eE+-".indexOf(s.charAt(end)) >= 0) {
                            end++;
                        }
                        s.replace(d, end, TOKENS[1 + r.nextInt(12)]);
                    }
                }
                case 3 -> { // delete a span
                    int end = Math.min(s.length(), at + 1 + r.nextInt(24));
                    s.delete(Math.min(at, s.length()), end);
                }
                default -> s.setLength(Math.min(s.length(), at)); // truncate
            }
        }
        return s.toString();
    }

    static byte[] textBytes(String seed, SplittableRandom r, int max) {
        byte[] b = text(seed, r, max).getBytes(StandardCharsets.UTF_8);
        return r.nextInt(8) == 0 ? bytes(b, r, 2) : b; // sometimes also break the UTF-8
    }

    private static int indexOfDigit(CharSequence s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (Character.isDigit(s.charAt(i))) {
                return i;
            }
        }
        return -1;
    }
}
