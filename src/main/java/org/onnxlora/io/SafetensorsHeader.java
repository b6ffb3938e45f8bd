package org.onnxlora.io;

import com.google.gson.Strictness;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Parses and validates the JSON header of a safetensors file, with the same rules
 * as the reference (Rust) implementation: strict JSON, no duplicate keys, known
 * dtypes, offsets consistent with dtype and shape, and tensors that tile the data
 * buffer exactly (contiguous, non-overlapping, nothing left over).
 *
 * <p>Streams through the JSON with a {@link JsonReader} instead of building a tree,
 * because a tree silently keeps the last of two duplicate keys.
 */
record SafetensorsHeader(Map<String, SafetensorsTensorInfo> tensors, Map<String, String> metadata) {

    static final String METADATA_KEY = "__metadata__";

    /**
     * @param file the file's name, for messages
     * @param json the header text, trailing padding included
     * @param dataLength bytes in the file after the header, which the tensors must cover exactly
     */
    static SafetensorsHeader parse(String file, String json, long dataLength) {
        Map<String, SafetensorsTensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        String key = null;
        boolean sawMetadata = false;
        try (JsonReader r = new JsonReader(new StringReader(json))) {
            r.setStrictness(Strictness.STRICT);
            r.beginObject();
            while (r.hasNext()) {
                key = r.nextName();
                boolean isMetadata = key.equals(METADATA_KEY);
                if (isMetadata ? sawMetadata : tensors.containsKey(key)) {
                    throw error(file, "duplicate header key '" + key + "'");
                }
                if (isMetadata) {
                    sawMetadata = true;
                    readMetadata(file, r, metadata);
                } else {
                    tensors.put(key, readTensor(file, key, r));
                }
                key = null;
            }
            r.endObject();
            if (r.peek() != JsonToken.END_DOCUMENT) {
                throw error(file, "header has text after the JSON object");
            }
        } catch (IOException | IllegalStateException | NumberFormatException e) {
            // Gson reports malformed JSON as IOException and wrong token types as IllegalStateException.
            String where = key == null ? "" : " (in entry '" + key + "')";
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    file + ": header is not valid safetensors JSON" + where + ": " + IoErrors.reason(e), e);
        }
        validateLayout(file, tensors.values(), dataLength);
        return new SafetensorsHeader(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static void readMetadata(String file, JsonReader r, Map<String, String> out) throws IOException {
        if (r.peek() == JsonToken.NULL) { // the reference implementation accepts null as "no metadata"
            r.nextNull();
            return;
        }
        r.beginObject();
        while (r.hasNext()) {
            String k = r.nextName();
            if (r.peek() != JsonToken.STRING) {
                throw error(file, "__metadata__ value for '" + k + "' is " + r.peek() + ", metadata values must be strings");
            }
            if (out.put(k, r.nextString()) != null) {
                throw error(file, "duplicate __metadata__ key '" + k + "'");
            }
        }
        r.endObject();
    }

    private static SafetensorsTensorInfo readTensor(String file, String name, JsonReader r) throws IOException {
        if (r.peek() != JsonToken.BEGIN_OBJECT) {
            throw tensorError(file, name, "header entry is " + r.peek() + ", expected an object");
        }
        SafetensorsDtype dtype = null;
        long[] shape = null;
        long[] offsets = null;
        r.beginObject();
        while (r.hasNext()) {
            String field = r.nextName();
            switch (field) {
                case "dtype" -> {
                    if (dtype != null) {
                        throw tensorError(file, name, "duplicate field 'dtype'");
                    }
                    if (r.peek() != JsonToken.STRING) {
                        throw tensorError(file, name, "dtype is " + r.peek() + ", expected a string");
                    }
                    String s = r.nextString();
                    dtype = SafetensorsDtype.parse(s);
                    if (dtype == null) {
                        throw tensorError(file, name, "unknown dtype '" + s + "'");
                    }
                }
                case "shape" -> {
                    if (shape != null) {
                        throw tensorError(file, name, "duplicate field 'shape'");
                    }
                    shape = readUnsignedArray(file, name, "shape", r);
                }
                case "data_offsets" -> {
                    if (offsets != null) {
                        throw tensorError(file, name, "duplicate field 'data_offsets'");
                    }
                    offsets = readUnsignedArray(file, name, "data_offsets", r);
                    if (offsets.length != 2) {
                        throw tensorError(file, name, "data_offsets has " + offsets.length + " numbers, expected [begin, end]");
                    }
                }
                default -> r.skipValue(); // like the reference reader: unknown fields are ignored
            }
        }
        r.endObject();
        if (dtype == null || shape == null || offsets == null) {
            String missing = dtype == null ? "dtype" : shape == null ? "shape" : "data_offsets";
            throw tensorError(file, name, "header entry has no '" + missing + "'");
        }
        return new SafetensorsTensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] readUnsignedArray(String file, String name, String field, JsonReader r) throws IOException {
        if (r.peek() != JsonToken.BEGIN_ARRAY) {
            throw tensorError(file, name, field + " is " + r.peek() + ", expected an array of integers");
        }
        List<Long> values = new ArrayList<>();
        r.beginArray();
        while (r.hasNext()) {
            if (r.peek() != JsonToken.NUMBER) {
                throw tensorError(file, name, field + " holds " + r.peek() + ", expected non-negative integers");
            }
            // Read the literal: nextLong() would accept 1.0 or 1e3, which the format does not allow.
            String text = r.nextString();
            if (!text.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw tensorError(file, name, field + " holds " + text + ", expected non-negative integers");
            }
            try {
                values.add(Long.parseLong(text));
            } catch (NumberFormatException e) {
                throw tensorError(file, name, field + " holds " + text + ", which is too large");
            }
        }
        r.endArray();
        return values.stream().mapToLong(Long::longValue).toArray();
    }

    /** Checks sizes against dtype × shape, then that the tensors tile [0, dataLength) without gaps or overlaps. */
    private static void validateLayout(String file, Iterable<SafetensorsTensorInfo> tensors, long dataLength) {
        List<SafetensorsTensorInfo> sorted = new ArrayList<>();
        for (SafetensorsTensorInfo t : tensors) {
            String where = "data_offsets [" + t.begin() + ", " + t.end() + "]";
            if (t.end() < t.begin()) {
                throw tensorError(file, t.name(), where + " end before they begin");
            }
            long bytes = expectedBytes(file, t);
            if (t.end() - t.begin() != bytes) {
                throw tensorError(file, t.name(), where + " span " + (t.end() - t.begin()) + " bytes, but "
                        + t.dtype() + " " + Arrays.toString(t.shape()) + " needs " + bytes);
            }
            if (t.end() > dataLength) {
                throw tensorError(file, t.name(), where + " run past the end of the data (" + dataLength
                        + " bytes after the header); is the file truncated?");
            }
            sorted.add(t);
        }
        sorted.sort(Comparator.comparingLong(SafetensorsTensorInfo::begin).thenComparingLong(SafetensorsTensorInfo::end));
        long expected = 0;
        SafetensorsTensorInfo previous = null;
        for (SafetensorsTensorInfo t : sorted) {
            if (t.begin() < expected) {
                throw tensorError(file, t.name(), "data_offsets [" + t.begin() + ", " + t.end() + "] overlap tensor '"
                        + previous.name() + "' [" + previous.begin() + ", " + previous.end() + "]");
            }
            if (t.begin() > expected) {
                throw tensorError(file, t.name(), "data_offsets [" + t.begin() + ", " + t.end() + "] leave bytes ["
                        + expected + ", " + t.begin() + ") of the data unused; tensors must be contiguous");
            }
            expected = t.end();
            previous = t;
        }
        if (expected != dataLength) {
            throw error(file, (dataLength - expected) + " bytes after the last tensor are not covered by any "
                    + "tensor (data is " + dataLength + " bytes, tensors end at " + expected + ")");
        }
    }

    private static long expectedBytes(String file, SafetensorsTensorInfo t) {
        try {
            long bits = t.dtype().bits();
            for (long d : t.shape()) {
                bits = Math.multiplyExact(bits, d);
            }
            if (bits % 8 != 0) {
                throw tensorError(file, t.name(), t.dtype() + " " + Arrays.toString(t.shape())
                        + " does not fill a whole number of bytes");
            }
            return bits / 8;
        } catch (ArithmeticException e) {
            throw tensorError(file, t.name(), "shape " + Arrays.toString(t.shape()) + " is too large");
        }
    }

    static OnnxLoraException error(String file, String message) {
        return new OnnxLoraException(ErrorCode.INVALID_MODEL, file + ": " + message);
    }

    static OnnxLoraException tensorError(String file, String name, String message) {
        return new OnnxLoraException(ErrorCode.INVALID_MODEL, file + ": tensor '" + name + "': " + message);
    }
}
