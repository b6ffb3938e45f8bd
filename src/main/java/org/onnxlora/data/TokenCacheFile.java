package org.onnxlora.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import java.util.zip.CheckedInputStream;
import java.util.zip.CheckedOutputStream;
import org.onnxlora.io.AtomicFiles;

/**
 * The on-disk form of a tokenized {@link Dataset}: big-endian, in this order —
 * <pre>
 *   8 bytes  "OLTOKENS"
 *   int      format version ({@value #VERSION})
 *   32 bytes the cache key (SHA-256) the file was written for
 *   int      examples n, skipped rows, truncated sources, truncated targets
 *   int      skip reasons k, then k × (int byte length, UTF-8 bytes)
 *   byte     bytes per id (2 when every id is below 65536, else 4)
 *   int[n]   source lengths, int[n] target lengths
 *   ids      all source ids of example 0, its target ids, example 1, ... (unsigned)
 *   int      CRC32C of every byte before it
 * </pre>
 * Read back only when every check holds (magic, version, key, lengths within the configured
 * maxima, ids within the vocabulary, exact file size, checksum); anything else is
 * {@link Damaged}, and the caller rebuilds it.
 */
final class TokenCacheFile {
    static final int VERSION = 1;
    private static final byte[] MAGIC = "OLTOKENS".getBytes(StandardCharsets.US_ASCII);
    private static final int MAX_REASON_BYTES = 1 << 16;

    /** The file is not a valid cache entry for the expected key. */
    static final class Damaged extends Exception {
        Damaged(String message) {
            super(message);
        }
    }

    private TokenCacheFile() {}

    static void write(Path file, byte[] key, Dataset d) throws IOException {
        AtomicFiles.write(file, raw -> {
            CRC32C crc = new CRC32C();
            DataOutputStream out = new DataOutputStream(new CheckedOutputStream(raw, crc));
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.write(key);
            List<Seq2SeqExample> ex = d.examples();
            out.writeInt(ex.size());
            out.writeInt(d.skippedRows());
            out.writeInt(d.truncatedSources());
            out.writeInt(d.truncatedTargets());
            out.writeInt(d.skipReasons().size());
            for (String r : d.skipReasons()) {
                byte[] b = r.getBytes(StandardCharsets.UTF_8);
                b = Arrays.copyOf(b, Math.min(b.length, MAX_REASON_BYTES));
                out.writeInt(b.length);
                out.write(b);
            }
            int width = idBytes(ex);
            out.writeByte(width);
            for (Seq2SeqExample e : ex) {
                out.writeInt(e.sourceLength());
            }
            for (Seq2SeqExample e : ex) {
                out.writeInt(e.targetLength());
            }
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            for (Seq2SeqExample e : ex) {
                writeIds(out, buf, e.sourceIds(), width);
                writeIds(out, buf, e.targetIds(), width);
            }
            flush(out, buf);
            out.flush();
            // The checksum itself is not part of what it covers.
            raw.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
            return null;
        });
    }

    /**
     * The data set in {@code file}, which must have been written for {@code key} with lengths at
     * most {@code maxSource}/{@code maxTarget} and ids below {@code vocab}.
     */
    static Dataset read(Path file, byte[] key, int maxSource, int maxTarget, long vocab) throws IOException, Damaged {
        long size = Files.size(file);
        CRC32C crc = new CRC32C();
        try (InputStream raw = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            DataInputStream in = new DataInputStream(new CheckedInputStream(raw, crc));
            byte[] magic = in.readNBytes(MAGIC.length);
            if (!Arrays.equals(magic, MAGIC)) {
                throw new Damaged("not a token cache");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new Damaged("format version " + version + ", expected " + VERSION);
            }
            if (!Arrays.equals(in.readNBytes(key.length), key)) {
                throw new Damaged("written for other data");
            }
            int n = in.readInt();
            int skipped = in.readInt();
            int cutSources = in.readInt();
            int cutTargets = in.readInt();
            int reasonCount = in.readInt();
            if (n < 1 || skipped < 0 || cutSources < 0 || cutSources > n || cutTargets < 0 || cutTargets > n
                    || reasonCount < 0 || reasonCount > Math.min(skipped, ReadResult.MAX_REASONS)) {
                throw new Damaged("bad header counts");
            }
            List<String> reasons = new ArrayList<>(reasonCount);
            for (int i = 0; i < reasonCount; i++) {
                int len = in.readInt();
                if (len < 0 || len > MAX_REASON_BYTES) {
                    throw new Damaged("bad skip reason length " + len);
                }
                reasons.add(new String(in.readNBytes(len), StandardCharsets.UTF_8));
            }
            int width = in.readByte();
            if (width != 2 && width != 4) {
                throw new Damaged("bad id width " + width);
            }
            // Bound n by the file's size before allocating anything n-sized.
            if ((long) n * 8 > size) {
                throw new Damaged("file too short for " + n + " examples");
            }
            int[] sourceLengths = readLengths(in, n, maxSource);
            int[] targetLengths = readLengths(in, n, maxTarget);
            long ids = 0;
            for (int i = 0; i < n; i++) {
                ids += sourceLengths[i] + (long) targetLengths[i];
            }
            long header = MAGIC.length + 4 + key.length + 5 * 4 + reasonBytes(reasons) + 1 + 8L * n;
            if (size != header + ids * width + 4) {
                throw new Damaged("size " + size + " does not match its header (" + (header + ids * width + 4) + ")");
            }
            byte[] buf = new byte[Math.max(maxSource, maxTarget) * width];
            List<Seq2SeqExample> examples = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                long[] s = readIds(in, buf, sourceLengths[i], width, vocab);
                long[] t = readIds(in, buf, targetLengths[i], width, vocab);
                examples.add(new Seq2SeqExample(s, t));
            }
            int expected = (int) crc.getValue();
            int stored;
            try {
                stored = new DataInputStream(raw).readInt();
            } catch (EOFException e) {
                throw new Damaged("no checksum");
            }
            if (stored != expected) {
                throw new Damaged("checksum mismatch");
            }
            return new Dataset(examples, skipped, reasons, cutSources, cutTargets);
        } catch (EOFException e) {
            throw new Damaged("truncated");
        }
    }

    private static long reasonBytes(List<String> reasons) {
        long b = 0;
        for (String r : reasons) {
            b += 4 + r.getBytes(StandardCharsets.UTF_8).length;
        }
        return b;
    }

    private static int[] readLengths(DataInputStream in, int n, int max) throws IOException, Damaged {
        byte[] b = in.readNBytes(4 * n);
        if (b.length != 4 * n) {
            throw new EOFException();
        }
        int[] out = new int[n];
        ByteBuffer.wrap(b).asIntBuffer().get(out);
        for (int len : out) {
            if (len < 1 || len > max) {
                throw new Damaged("sequence length " + len + " outside 1.." + max);
            }
        }
        return out;
    }

    private static long[] readIds(DataInputStream in, byte[] buf, int len, int width, long vocab)
            throws IOException, Damaged {
        in.readFully(buf, 0, len * width);
        ByteBuffer b = ByteBuffer.wrap(buf, 0, len * width);
        long[] ids = new long[len];
        for (int i = 0; i < len; i++) {
            long id = width == 2 ? Short.toUnsignedLong(b.getShort()) : Integer.toUnsignedLong(b.getInt());
            if (id >= vocab) {
                throw new Damaged("token id " + id + " outside the vocabulary of " + vocab);
            }
            ids[i] = id;
        }
        return ids;
    }

    private static int idBytes(List<Seq2SeqExample> examples) {
        long max = 0;
        for (Seq2SeqExample e : examples) {
            for (long[] a : new long[][] {e.sourceIds(), e.targetIds()}) {
                for (long id : a) {
                    if (id < 0 || id > 0xFFFFFFFFL) {
                        throw new IllegalArgumentException("token id " + id + " cannot be cached");
                    }
                    max = Math.max(max, id);
                }
            }
        }
        return max > 0xFFFF ? 4 : 2;
    }

    private static void writeIds(DataOutputStream out, ByteBuffer buf, long[] ids, int width) throws IOException {
        for (long id : ids) {
            if (buf.remaining() < 4) {
                flush(out, buf);
            }
            if (width == 2) {
                buf.putShort((short) id);
            } else {
                buf.putInt((int) id);
            }
        }
    }

    private static void flush(DataOutputStream out, ByteBuffer buf) throws IOException {
        out.write(buf.array(), 0, buf.position());
        buf.clear();
    }
}
