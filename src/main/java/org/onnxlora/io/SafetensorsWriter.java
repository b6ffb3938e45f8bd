package org.onnxlora.io;

import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Collects named tensors and metadata, then writes them as one safetensors file:
 * tensors in insertion order, contiguous, header padded with spaces to a multiple
 * of 8 bytes (so the data starts 8-byte aligned, as the reference writer does).
 * The file is replaced atomically: readers never see a partial file.
 *
 * <p>The arrays are referenced, not copied, until {@link #write}: do not change
 * them in between. Misuse (duplicate name, shape not matching the values) throws
 * {@link IllegalArgumentException} at the {@code put} call.
 */
public final class SafetensorsWriter {
    private static final int SCRATCH_BYTES = 1 << 16;

    /** Writes one tensor's bytes, little-endian, through a scratch buffer of {@link #SCRATCH_BYTES}. */
    @FunctionalInterface
    private interface Encoder {
        void write(OutputStream out, ByteBuffer scratch) throws IOException;
    }

    private record Entry(SafetensorsDtype dtype, long[] shape, long byteSize, Encoder encoder) {}

    private final Map<String, Entry> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
        return this;
    }

    public SafetensorsWriter metadata(Map<String, String> entries) {
        entries.forEach(this::metadata);
        return this;
    }

    /** An F32 tensor. */
    public SafetensorsWriter putFloats(String name, long[] shape, float[] values) {
        return putFloats(name, SafetensorsDtype.F32, shape, values);
    }

    /**
     * A tensor of {@code dtype} F32, F64 (exact), F16 or BF16 (each value rounded to
     * nearest, ties to even, as PyTorch and numpy round).
     */
    public SafetensorsWriter putFloats(String name, SafetensorsDtype dtype, long[] shape, float[] values) {
        check(name, shape, values.length);
        Encoder e = switch (dtype) {
            case F32 -> (out, s) -> {
                for (int at = 0; at < values.length; at += SCRATCH_BYTES / 4) {
                    int k = Math.min(SCRATCH_BYTES / 4, values.length - at);
                    s.clear().asFloatBuffer().put(values, at, k);
                    out.write(s.array(), 0, k * 4);
                }
            };
            case F64 -> (out, s) -> {
                for (int at = 0; at < values.length; at += SCRATCH_BYTES / 8) {
                    int k = Math.min(SCRATCH_BYTES / 8, values.length - at);
                    for (int i = 0; i < k; i++) s.putDouble(i << 3, values[at + i]);
                    out.write(s.array(), 0, k * 8);
                }
            };
            case F16 -> (out, s) -> {
                for (int at = 0; at < values.length; at += SCRATCH_BYTES / 2) {
                    int k = Math.min(SCRATCH_BYTES / 2, values.length - at);
                    for (int i = 0; i < k; i++) s.putShort(i << 1, Half.fromFloat(values[at + i]));
                    out.write(s.array(), 0, k * 2);
                }
            };
            case BF16 -> (out, s) -> {
                for (int at = 0; at < values.length; at += SCRATCH_BYTES / 2) {
                    int k = Math.min(SCRATCH_BYTES / 2, values.length - at);
                    for (int i = 0; i < k; i++) s.putShort(i << 1, Half.floatToBf16(values[at + i]));
                    out.write(s.array(), 0, k * 2);
                }
            };
            default -> throw new IllegalArgumentException("tensor '" + name + "': putFloats writes F32, F64, F16 or BF16, not " + dtype);
        };
        return add(name, dtype, shape, (long) values.length * dtype.byteSize(), e);
    }

    /** An F64 tensor. */
    public SafetensorsWriter putDoubles(String name, long[] shape, double[] values) {
        check(name, shape, values.length);
        return add(name, SafetensorsDtype.F64, shape, values.length * 8L, (out, s) -> {
            for (int at = 0; at < values.length; at += SCRATCH_BYTES / 8) {
                int k = Math.min(SCRATCH_BYTES / 8, values.length - at);
                s.clear().asDoubleBuffer().put(values, at, k);
                out.write(s.array(), 0, k * 8);
            }
        });
    }

    /** An I64 tensor. */
    public SafetensorsWriter putLongs(String name, long[] shape, long[] values) {
        check(name, shape, values.length);
        return add(name, SafetensorsDtype.I64, shape, values.length * 8L, (out, s) -> {
            for (int at = 0; at < values.length; at += SCRATCH_BYTES / 8) {
                int k = Math.min(SCRATCH_BYTES / 8, values.length - at);
                s.clear().asLongBuffer().put(values, at, k);
                out.write(s.array(), 0, k * 8);
            }
        });
    }

    /** An I32 tensor. */
    public SafetensorsWriter putInts(String name, long[] shape, int[] values) {
        check(name, shape, values.length);
        return add(name, SafetensorsDtype.I32, shape, values.length * 4L, (out, s) -> {
            for (int at = 0; at < values.length; at += SCRATCH_BYTES / 4) {
                int k = Math.min(SCRATCH_BYTES / 4, values.length - at);
                s.clear().asIntBuffer().put(values, at, k);
                out.write(s.array(), 0, k * 4);
            }
        });
    }

    /**
     * A tensor of any dtype from its encoded little-endian bytes (position to limit;
     * the buffer itself is not moved). For dtypes without a typed {@code put}, and
     * for copying tensors from a {@link SafetensorsFile} without decoding them.
     */
    public SafetensorsWriter putBytes(String name, SafetensorsDtype dtype, long[] shape, ByteBuffer data) {
        long elements = check(name, shape, -1);
        long bits;
        try {
            bits = Math.multiplyExact(elements, dtype.bits());
        } catch (ArithmeticException ex) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " is too large");
        }
        if (bits % 8 != 0 || data.remaining() != bits / 8) {
            throw new IllegalArgumentException("tensor '" + name + "': " + data.remaining() + " bytes for "
                    + dtype + " " + Arrays.toString(shape) + ", expected " + (bits % 8 != 0 ? "a whole number" : bits / 8));
        }
        ByteBuffer view = data.duplicate();
        return add(name, dtype, shape, view.remaining(), (out, s) -> {
            ByteBuffer b = view.duplicate(); // a fresh cursor each time, so write() may be called again
            while (b.hasRemaining()) {
                int k = Math.min(SCRATCH_BYTES, b.remaining());
                b.get(s.array(), 0, k);
                out.write(s.array(), 0, k);
            }
        });
    }

    /** Writes everything to {@code file}, replacing it atomically; returns the file's size in bytes. */
    public long write(Path file) {
        byte[] header = header();
        try {
            return AtomicFiles.write(file, out -> {
                ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length);
                out.write(length.array());
                out.write(header);
                ByteBuffer scratch = ByteBuffer.allocate(SCRATCH_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                long total = 8L + header.length;
                for (Entry e : tensors.values()) {
                    e.encoder().write(out, scratch);
                    total += e.byteSize();
                }
                return total;
            });
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, file + ": cannot write: " + IoErrors.reason(e), e);
        }
    }

    /** The JSON header, UTF-8, padded with spaces to a multiple of 8 bytes. */
    byte[] header() {
        StringWriter text = new StringWriter();
        try (JsonWriter w = new JsonWriter(text)) {
            w.beginObject();
            if (!metadata.isEmpty()) { // like the reference writer: no key rather than an empty object
                w.name(SafetensorsHeader.METADATA_KEY).beginObject();
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    w.name(m.getKey()).value(m.getValue());
                }
                w.endObject();
            }
            long offset = 0;
            for (Map.Entry<String, Entry> t : tensors.entrySet()) {
                Entry e = t.getValue();
                w.name(t.getKey()).beginObject();
                w.name("dtype").value(e.dtype().name());
                w.name("shape").beginArray();
                for (long d : e.shape()) {
                    w.value(d);
                }
                w.endArray();
                w.name("data_offsets").beginArray().value(offset).value(offset + e.byteSize()).endArray();
                w.endObject();
                offset += e.byteSize();
            }
            w.endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        byte[] json = text.toString().getBytes(StandardCharsets.UTF_8);
        byte[] padded = Arrays.copyOf(json, (json.length + 7) & ~7);
        Arrays.fill(padded, json.length, padded.length, (byte) ' ');
        return padded;
    }

    /** Validates name and shape; returns the element count. {@code values} is the array length, or -1 for raw bytes. */
    private long check(String name, long[] shape, long values) {
        Objects.requireNonNull(name, "name");
        if (name.equals(SafetensorsHeader.METADATA_KEY)) {
            throw new IllegalArgumentException("'" + name + "' is reserved for metadata");
        }
        if (tensors.containsKey(name)) {
            throw new IllegalArgumentException("tensor '" + name + "' was already added");
        }
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("tensor '" + name + "': negative dimension in " + Arrays.toString(shape));
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " is too large");
            }
        }
        if (values >= 0 && n != values) {
            throw new IllegalArgumentException("tensor '" + name + "': " + values + " values for shape "
                    + Arrays.toString(shape) + " (" + n + " elements)");
        }
        return n;
    }

    private SafetensorsWriter add(String name, SafetensorsDtype dtype, long[] shape, long byteSize, Encoder encoder) {
        tensors.put(name, new Entry(dtype, shape.clone(), byteSize, encoder));
        return this;
    }
}
