package org.onnxlora.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * A safetensors file opened for reading. The header is parsed and fully validated
 * by {@link #open}; tensor data is memory-mapped, never copied until an accessor
 * decodes it into a Java array.
 *
 * <p>Java maps at most 2 GiB per buffer, so the data is mapped lazily in windows
 * of 2 × {@code stride} bytes that start every {@code stride} bytes. Any range of
 * at most {@code stride} bytes then lies inside a single window, so small tensors
 * are slices of a shared mapping rather than one mmap each, and large tensors are
 * decoded in chunks of {@code stride} bytes. Files and tensors may exceed 2 GiB;
 * only {@link #bytes} of a single tensor cannot.
 *
 * <p>Buffers returned by {@link #bytes} stay valid after {@link #close} (a mapping
 * does not depend on its channel). Do not truncate the file while it is mapped.
 * Reading from several threads at once is safe.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    static final int DEFAULT_STRIDE = 1 << 29; // windows of 1 GiB

    private final Path path;
    private final String file; // for messages
    private final FileChannel channel;
    private final long dataStart;
    private final long dataLength;
    private final SafetensorsHeader header;
    private final List<String> names;
    private final int stride;
    private final MappedByteBuffer[] windows;
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, long dataLength,
                            SafetensorsHeader header, int stride) {
        this.path = path;
        this.file = path.toString();
        this.channel = channel;
        this.dataStart = dataStart;
        this.dataLength = dataLength;
        this.header = header;
        this.names = List.copyOf(header.tensors().keySet());
        this.stride = stride;
        this.windows = new MappedByteBuffer[(int) (dataLength / stride) + 1];
    }

    /** Opens and validates {@code path}; throws {@link OnnxLoraException} (IO or INVALID_MODEL) naming the file. */
    public static SafetensorsFile open(Path path) {
        return open(path, DEFAULT_STRIDE);
    }

    /** As {@link #open(Path)}, with a chosen window stride so that tests can exercise chunking on small files. */
    static SafetensorsFile open(Path path, int stride) {
        if (stride < 8 || stride % 8 != 0 || stride > (1 << 29)) {
            throw new IllegalArgumentException("stride " + stride);
        }
        FileChannel ch;
        try {
            ch = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, path + ": cannot open: " + IoErrors.reason(e), e);
        }
        try {
            long size = ch.size();
            String file = path.toString();
            if (size < 8) {
                throw SafetensorsHeader.error(file, "truncated: " + size
                        + " bytes, too short for the 8-byte header length");
            }
            long n = readFully(ch, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
            // n is unsigned in the format: a negative long is a length above 2^63.
            if (n < 0 || n > MAX_HEADER_BYTES) {
                throw SafetensorsHeader.error(file, "header length " + Long.toUnsignedString(n)
                        + " is implausible (limit " + MAX_HEADER_BYTES + "); not a safetensors file?");
            }
            if (n > size - 8) {
                throw SafetensorsHeader.error(file, "truncated: header length is " + n + " bytes but only "
                        + (size - 8) + " follow");
            }
            String json = decodeUtf8(file, readFully(ch, 8, (int) n));
            if (!json.startsWith("{")) {
                throw SafetensorsHeader.error(file, "header does not start with '{'; not a safetensors file?");
            }
            SafetensorsHeader header = SafetensorsHeader.parse(file, json, size - 8 - n);
            return new SafetensorsFile(path, ch, 8 + n, size - 8 - n, header, stride);
        } catch (IOException e) {
            closeQuietly(ch);
            throw new OnnxLoraException(ErrorCode.IO, path + ": cannot read: " + IoErrors.reason(e), e);
        } catch (RuntimeException e) {
            closeQuietly(ch);
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    /** Tensor names in the order the header lists them (for standard writers, also the data order). */
    public List<String> names() {
        return names;
    }

    /** The {@code __metadata__} entries in file order; empty if the file has none. */
    public Map<String, String> metadata() {
        return header.metadata();
    }

    public boolean contains(String name) {
        return header.tensors().containsKey(name);
    }

    /** Header entries in file order. */
    public List<SafetensorsTensorInfo> tensors() {
        return List.copyOf(header.tensors().values());
    }

    public SafetensorsTensorInfo info(String name) {
        SafetensorsTensorInfo t = header.tensors().get(name);
        if (t == null) {
            throw SafetensorsHeader.error(file, "no tensor '" + name + "'");
        }
        return t;
    }

    public SafetensorsDtype dtype(String name) {
        return info(name).dtype();
    }

    public long[] shape(String name) {
        return info(name).shape();
    }

    /**
     * The tensor's bytes as a read-only little-endian view of the mapping, position 0,
     * capacity {@link SafetensorsTensorInfo#byteSize()}. Refused above 2 GiB, which a
     * {@link ByteBuffer} cannot address; decode such tensors with the array accessors.
     */
    public ByteBuffer bytes(String name) {
        SafetensorsTensorInfo t = info(name);
        if (t.byteSize() > Integer.MAX_VALUE) {
            throw unsupported(t, t.byteSize() + " bytes do not fit one ByteBuffer; use floats(), doubles() or longs()");
        }
        return slice(t.begin(), (int) t.byteSize());
    }

    /** Values of an F32, F16, BF16 or F64 tensor as float; F64 is rounded to nearest, the rest widen exactly. */
    public float[] floats(String name) {
        SafetensorsTensorInfo t = info(name);
        float[] out = new float[count(t)];
        switch (t.dtype()) {
            case F32 -> decode(t, 4, (b, at, k) -> b.asFloatBuffer().get(out, at, k));
            case F64 -> decode(t, 8, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = (float) b.getDouble(i << 3);
            });
            case F16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = F16Table.VALUES[b.getShort(i << 1) & 0xffff];
            });
            case BF16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = Float.intBitsToFloat(b.getShort(i << 1) << 16);
            });
            default -> throw wrongType(t, "floats", "F32, F16, BF16 or F64");
        }
        return out;
    }

    /** Values of an F64, F32, F16 or BF16 tensor as double, all exactly. */
    public double[] doubles(String name) {
        SafetensorsTensorInfo t = info(name);
        double[] out = new double[count(t)];
        switch (t.dtype()) {
            case F64 -> decode(t, 8, (b, at, k) -> b.asDoubleBuffer().get(out, at, k));
            case F32 -> decode(t, 4, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.getFloat(i << 2);
            });
            case F16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = F16Table.VALUES[b.getShort(i << 1) & 0xffff];
            });
            case BF16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = Float.intBitsToFloat(b.getShort(i << 1) << 16);
            });
            default -> throw wrongType(t, "doubles", "F64, F32, F16 or BF16");
        }
        return out;
    }

    /** Values of an I64 or I32 tensor (or a narrower integer type, or BOOL as 0/1) as long, exactly. */
    public long[] longs(String name) {
        SafetensorsTensorInfo t = info(name);
        long[] out = new long[count(t)];
        switch (t.dtype()) {
            case I64 -> decode(t, 8, (b, at, k) -> b.asLongBuffer().get(out, at, k));
            case I32 -> decode(t, 4, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.getInt(i << 2);
            });
            case U32 -> decode(t, 4, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = Integer.toUnsignedLong(b.getInt(i << 2));
            });
            case I16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.getShort(i << 1);
            });
            case U16 -> decode(t, 2, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.getShort(i << 1) & 0xffff;
            });
            case I8 -> decode(t, 1, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.get(i);
            });
            case U8, BOOL -> decode(t, 1, (b, at, k) -> {
                for (int i = 0; i < k; i++) out[at + i] = b.get(i) & 0xff;
            });
            default -> throw wrongType(t, "longs", "I64, I32, U32, I16, U16, I8, U8 or BOOL");
        }
        return out;
    }

    /** Closes the channel. Buffers already returned stay readable; accessors called afterwards throw. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(channel);
    }

    // ---- decoding ----

    /** Receives one chunk of a tensor: {@code count} elements that go to {@code out[at..]}. */
    @FunctionalInterface
    private interface Chunk {
        void accept(ByteBuffer b, int at, int count);
    }

    /** Feeds the tensor to {@code sink} in chunks of at most {@code stride} bytes, each inside one mapped window. */
    private void decode(SafetensorsTensorInfo t, int elementBytes, Chunk sink) {
        int n = count(t);
        int perChunk = stride / elementBytes;
        for (int at = 0; at < n; at += perChunk) {
            int k = Math.min(perChunk, n - at);
            sink.accept(slice(t.begin() + (long) at * elementBytes, k * elementBytes), at, k);
        }
    }

    /** A little-endian read-only view of data bytes [offset, offset + length). */
    private ByteBuffer slice(long offset, int length) {
        if (closed) {
            throw new IllegalStateException(file + " is closed");
        }
        if (length == 0) {
            return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN).asReadOnlyBuffer();
        }
        ByteBuffer b;
        if (length <= stride) {
            int w = (int) (offset / stride);
            b = window(w).slice((int) (offset - (long) w * stride), length);
        } else {
            b = map(dataStart + offset, length); // too big to be sure of fitting a window: its own mapping
        }
        return b.order(ByteOrder.LITTLE_ENDIAN); // slice() resets the order to big-endian
    }

    private synchronized MappedByteBuffer window(int w) {
        if (windows[w] == null) {
            long start = (long) w * stride;
            windows[w] = map(dataStart + start, (int) Math.min(2L * stride, dataLength - start));
        }
        return windows[w];
    }

    private MappedByteBuffer map(long position, int length) {
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, position, length);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, file + ": cannot map " + length + " bytes at " + position + ": "
                    + IoErrors.reason(e), e);
        }
    }

    private int count(SafetensorsTensorInfo t) {
        long n = t.elementCount();
        if (n > Integer.MAX_VALUE - 8) { // the largest array a JVM reliably allocates
            throw unsupported(t, n + " elements do not fit a Java array");
        }
        return (int) n;
    }

    private OnnxLoraException wrongType(SafetensorsTensorInfo t, String accessor, String accepted) {
        return unsupported(t, "dtype " + t.dtype() + " cannot be read by " + accessor + "(), which takes " + accepted);
    }

    private OnnxLoraException unsupported(SafetensorsTensorInfo t, String message) {
        return new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": tensor '" + t.name() + "': " + message);
    }

    // ---- opening ----

    private static ByteBuffer readFully(FileChannel ch, long position, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        while (b.hasRemaining()) {
            if (ch.read(b, position + b.position()) < 0) {
                throw new IOException("unexpected end of file");
            }
        }
        return b.flip();
    }

    /** Strict decoding: a lenient decoder would turn bad bytes into U+FFFD and hide a corrupt header. */
    private static String decodeUtf8(String file, ByteBuffer bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw SafetensorsHeader.error(file, "header is not valid UTF-8");
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // nothing useful to do: the data was only read
        }
    }

    /** All 65536 binary16 values as floats: a table lookup beats the branches of {@link Half#toFloat}. */
    private static final class F16Table {
        static final float[] VALUES = new float[1 << 16];

        static {
            for (int i = 0; i < VALUES.length; i++) {
                VALUES[i] = Half.toFloat((short) i);
            }
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + file + ", " + names.size() + " tensors]";
    }

    /** For tests: how many windows are mapped so far. */
    synchronized int mappedWindows() {
        int n = 0;
        for (MappedByteBuffer w : windows) {
            n += w == null ? 0 : 1;
        }
        return n;
    }
}
