package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

class SafetensorsTest {
    private static final Path GOLDENS = Path.of("models/tiny-bart/goldens/train_step.safetensors");
    private static final Path GOLDENS_JSON = Path.of("models/tiny-bart/goldens/train_step.json");
    private static final Path HF_MODEL = Path.of("models/tiny-bart/hf/model.safetensors");

    @TempDir
    Path dir;

    // ---------------------------------------------------------------- round trips

    @Test
    void roundTripsEveryTypedPut() {
        float[] f = {0f, -0f, 1.5f, -2.25f, 65504f, 0x1p-24f, Float.MIN_VALUE, Float.MAX_VALUE, 3.1415927f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        double[] d = {0.0, -0.0, Math.PI, Double.MIN_VALUE, Double.MAX_VALUE, -1e300, Double.NaN, Double.NEGATIVE_INFINITY};
        long[] l = {0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 40};
        int[] i = {0, 1, -1, Integer.MIN_VALUE, Integer.MAX_VALUE, 123456};
        float[] exactInHalf = {0f, -0f, 1f, -1.5f, 65504f, -65504f, 0x1p-24f, 0x1p-14f, 0x1.ff8p-15f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        float[] exactInBf16 = {0f, -0f, 1f, -1.5f, 0x1.fep127f, 0x1p-133f, 0x1p-126f, 3.140625f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 0x1.3p33f};
        Path p = dir.resolve("typed.safetensors");
        new SafetensorsWriter()
                .putFloats("f32", new long[] {3, 4}, f)
                .putFloats("f16", SafetensorsDtype.F16, new long[] {2, 2, 3}, exactInHalf)
                .putFloats("bf16", SafetensorsDtype.BF16, new long[] {12}, exactInBf16)
                .putFloats("f64_from_floats", SafetensorsDtype.F64, new long[] {12}, f)
                .putDoubles("f64", new long[] {2, 4}, d)
                .putLongs("i64", new long[] {6}, l)
                .putInts("i32", new long[] {3, 2}, i)
                .putFloats("scalar", new long[0], new float[] {42f})
                .putFloats("empty", new long[] {0, 5}, new float[0])
                .write(p);
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            assertEquals(List.of("f32", "f16", "bf16", "f64_from_floats", "f64", "i64", "i32", "scalar", "empty"), st.names());
            assertBitsEqual(f, st.floats("f32"));
            assertBitsEqual(exactInHalf, st.floats("f16"));
            assertBitsEqual(exactInBf16, st.floats("bf16"));
            assertBitsEqual(f, st.floats("f64_from_floats"));
            assertArrayEquals(d, st.doubles("f64"));
            assertArrayEquals(l, st.longs("i64"));
            assertArrayEquals(Arrays.stream(i).asLongStream().toArray(), st.longs("i32"));
            assertArrayEquals(new float[] {42f}, st.floats("scalar"));
            assertEquals(0, st.floats("empty").length);
            assertEquals(0, st.bytes("empty").capacity());

            assertEquals(SafetensorsDtype.F16, st.dtype("f16"));
            assertArrayEquals(new long[] {2, 2, 3}, st.shape("f16"));
            assertArrayEquals(new long[0], st.shape("scalar"));
            assertEquals(0, st.info("scalar").rank());
            assertEquals(1, st.info("scalar").elementCount());
            assertEquals(24, st.info("f16").byteSize());
            // doubles() widens floats exactly
            float[] back = st.floats("f32");
            double[] wide = st.doubles("f32");
            for (int k = 0; k < back.length; k++) {
                assertEquals(Double.doubleToLongBits(back[k]), Double.doubleToLongBits(wide[k]));
            }
            // the raw view is little-endian and read-only
            ByteBuffer raw = st.bytes("i64");
            assertTrue(raw.isReadOnly());
            assertEquals(ByteOrder.LITTLE_ENDIAN, raw.order());
            assertEquals(Long.MIN_VALUE, raw.getLong(24));
            assertEquals((byte) 0x80, raw.get(31)); // the sign byte comes last
        }
    }

    @Test
    void roundTripsEveryDtypeAsBytes() {
        SplittableRandom rnd = new SplittableRandom(7);
        SafetensorsWriter w = new SafetensorsWriter();
        List<byte[]> payloads = new ArrayList<>();
        for (SafetensorsDtype dt : SafetensorsDtype.values()) {
            long[] shape = {2, 4}; // 8 elements: a whole number of bytes even for F4 and F6
            byte[] bytes = new byte[8 * dt.bits() / 8];
            rnd.nextBytes(bytes);
            payloads.add(bytes);
            w.putBytes(dt.name().toLowerCase(), dt, shape, ByteBuffer.wrap(bytes));
        }
        Path p = dir.resolve("all.safetensors");
        w.write(p);
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            SafetensorsDtype[] all = SafetensorsDtype.values();
            assertEquals(all.length, st.names().size());
            for (int k = 0; k < all.length; k++) {
                String name = all[k].name().toLowerCase();
                assertEquals(all[k], st.dtype(name));
                ByteBuffer b = st.bytes(name);
                byte[] got = new byte[b.remaining()];
                b.get(got);
                assertArrayEquals(payloads.get(k), got, name);
            }
            // integer widening of the narrow types, against the bytes written
            byte[] u8 = payloads.get(SafetensorsDtype.U8.ordinal());
            byte[] i8 = payloads.get(SafetensorsDtype.I8.ordinal());
            ByteBuffer u16 = ByteBuffer.wrap(payloads.get(SafetensorsDtype.U16.ordinal())).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer u32 = ByteBuffer.wrap(payloads.get(SafetensorsDtype.U32.ordinal())).order(ByteOrder.LITTLE_ENDIAN);
            for (int k = 0; k < 8; k++) {
                assertEquals(u8[k] & 0xff, st.longs("u8")[k]);
                assertEquals(i8[k], st.longs("i8")[k]);
                assertEquals(u16.getShort(2 * k) & 0xffff, st.longs("u16")[k]);
                assertEquals(Integer.toUnsignedLong(u32.getInt(4 * k)), st.longs("u32")[k]);
            }
        }
    }

    @Test
    void halfAndBf16ConversionsInFilesMatchTheReference() {
        // Values that need rounding: the writer must round each once, to nearest even.
        SplittableRandom rnd = new SplittableRandom(11);
        float[] v = new float[5000];
        for (int k = 0; k < v.length; k++) {
            v[k] = Float.intBitsToFloat(rnd.nextInt());
        }
        Path p = dir.resolve("rounded.safetensors");
        new SafetensorsWriter()
                .putFloats("h", SafetensorsDtype.F16, new long[] {v.length}, v)
                .putFloats("b", SafetensorsDtype.BF16, new long[] {v.length}, v)
                .write(p);
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            ByteBuffer h = st.bytes("h");
            ByteBuffer b = st.bytes("b");
            float[] hf = st.floats("h");
            float[] bf = st.floats("b");
            int nans = 0;
            for (int k = 0; k < v.length; k++) {
                if (Float.isNaN(v[k])) { // any NaN pattern will do; the sign must survive
                    nans++;
                    assertTrue(Float.isNaN(hf[k]) && Float.isNaN(bf[k]));
                    assertEquals(Float.floatToRawIntBits(v[k]) >>> 31, Float.floatToRawIntBits(hf[k]) >>> 31);
                    continue;
                }
                assertEquals(HALF.round(v[k]), h.getShort(2 * k) & 0xffff, "f16 of " + v[k]);
                assertEquals(BF16.round(v[k]), b.getShort(2 * k) & 0xffff, "bf16 of " + v[k]);
                assertBitsEqual(HALF.value(h.getShort(2 * k) & 0xffff), hf[k]);
                assertBitsEqual(BF16.value(b.getShort(2 * k) & 0xffff), bf[k]);
            }
            assertTrue(nans > 0, "random bit patterns include NaNs");
        }
    }

    // ---------------------------------------------------------------- Half vs brute force

    /**
     * A format with 1 sign bit, then exponent and mantissa, described only by its
     * widths: values come from the definition, rounding from comparing with both
     * neighbours among all finite values. Independent of {@link Half}'s bit tricks.
     */
    record Format(int expBits, int mantBits) {
        int bias() {
            return (1 << (expBits - 1)) - 1;
        }

        int infBits() {
            return ((1 << expBits) - 1) << mantBits;
        }

        /** Exact value of the bit pattern {@code h} (16 bits), by the IEEE definition. */
        double value(int h) {
            int sign = h >>> 15;
            int e = (h >>> mantBits) & ((1 << expBits) - 1);
            int m = h & ((1 << mantBits) - 1);
            double v;
            if (e == (1 << expBits) - 1) {
                v = m == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
            } else if (e == 0) {
                v = m * Math.scalb(1.0, 1 - bias() - mantBits);
            } else {
                v = ((1 << mantBits) + m) * Math.scalb(1.0, e - bias() - mantBits);
            }
            return sign == 1 ? -v : v;
        }

        /** Bits of the value nearest to {@code f}, ties to the even pattern; beyond max + ulp/2 is infinity. */
        int round(float f) {
            int sign = Float.floatToRawIntBits(f) < 0 ? 0x8000 : 0;
            if (Float.isNaN(f)) {
                return -1; // any NaN: checked separately
            }
            double a = Math.abs((double) f);
            // patterns 0 .. infBits-1 are the finite non-negative values in increasing order;
            // infBits itself stands for 2^(emax+1), the first value past the largest finite one.
            int lo = 0;
            int hi = infBits();
            while (hi - lo > 1) { // invariant: value(lo) <= a < upper(hi)
                int mid = (lo + hi) >>> 1;
                if (upper(mid) <= a) {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            if (upper(lo) == a) {
                return sign | lo;
            }
            if (a >= upper(infBits())) {
                return sign | infBits();
            }
            // 2a and the sum of two neighbours are exact in double: compare without rounding.
            int c = Double.compare(2 * a, upper(lo) + upper(lo + 1));
            int bits = c < 0 ? lo : c > 0 ? lo + 1 : ((lo & 1) == 0 ? lo : lo + 1);
            return sign | bits;
        }

        private double upper(int bits) {
            return bits == infBits() ? Math.scalb(1.0, bias() + 1) : value(bits);
        }

        /** Every rounding boundary: each value, the midpoint to the next, and the floats either side of it. */
        float[] boundaryCases() {
            List<Float> out = new ArrayList<>();
            for (int b = 0; b < infBits(); b++) {
                double mid = (upper(b) + upper(b + 1)) / 2;
                for (double x : new double[] {value(b), mid}) {
                    float fx = (float) x;
                    if (fx != x) {
                        continue; // e.g. the bf16 midpoint above Float.MAX_VALUE
                    }
                    for (float y : new float[] {fx, Math.nextUp(fx), Math.nextDown(fx)}) {
                        out.add(y);
                        out.add(-y);
                    }
                }
            }
            for (float y : new float[] {Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, 0x1p-25f, 0x1p-26f,
                    65519.996f, 65520f, 65536f, 1e-30f, 1e30f}) {
                out.add(y);
                out.add(-y);
            }
            float[] a = new float[out.size()];
            for (int k = 0; k < a.length; k++) {
                a[k] = out.get(k);
            }
            return a;
        }
    }

    static final Format HALF = new Format(5, 10);
    static final Format BF16 = new Format(8, 7);

    @Test
    void halfToFloatIsExactForAll65536Patterns() {
        for (int h = 0; h < 1 << 16; h++) {
            float got = Half.toFloat((short) h);
            double want = HALF.value(h);
            if (Double.isNaN(want)) {
                assertTrue(Float.isNaN(got), "NaN pattern " + Integer.toHexString(h));
                int bits = Float.floatToRawIntBits(got);
                assertEquals(h >>> 15, bits >>> 31, "NaN sign");
                assertEquals((h & 0x3ff) << 13, bits & 0x7fffff, "NaN payload kept");
            } else {
                assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(got), "pattern " + Integer.toHexString(h));
            }
        }
    }

    @Test
    void bf16ToFloatIsExactForAll65536Patterns() {
        for (int h = 0; h < 1 << 16; h++) {
            float got = Half.bf16ToFloat((short) h);
            double want = BF16.value(h);
            if (Double.isNaN(want)) {
                assertTrue(Float.isNaN(got));
                assertEquals(h << 16, Float.floatToRawIntBits(got));
            } else {
                assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(got), "pattern " + Integer.toHexString(h));
            }
        }
    }

    @Test
    void floatToHalfRoundsToNearestEvenAtEveryBoundary() {
        checkRounding(HALF, HALF.boundaryCases(), f -> Half.fromFloat(f) & 0xffff);
        checkRounding(HALF, randomFloats(1_000_000, 3), f -> Half.fromFloat(f) & 0xffff);
        // spot checks that document the rules
        assertEquals(0x0000, Half.fromFloat(0x1p-25f) & 0xffff, "tie between 0 and the smallest subnormal goes to 0");
        assertEquals(0x0002, Half.fromFloat(0x1.8p-24f * 2 - 0x1p-25f) & 0xffff, "2.5 ulps of the smallest subnormal tie to even (2)");
        assertEquals(0x7bff, Half.fromFloat(65519.996f) & 0xffff);
        assertEquals(0x7c00, Half.fromFloat(65520f) & 0xffff, "ties at the top overflow to infinity");
        assertEquals(0x3c00, Half.fromFloat(1f + 0x1p-11f) & 0xffff, "1 + ulp/2 ties to even (1)");
        assertEquals(0x3c02, Half.fromFloat(1f + 0x3p-11f) & 0xffff, "1 + 3ulp/2 ties to even (1+2ulp)");
        assertEquals(0x8000, Half.fromFloat(-0f) & 0xffff);
    }

    @Test
    void floatToBf16RoundsToNearestEvenAtEveryBoundary() {
        checkRounding(BF16, BF16.boundaryCases(), f -> Half.floatToBf16(f) & 0xffff);
        checkRounding(BF16, randomFloats(1_000_000, 5), f -> Half.floatToBf16(f) & 0xffff);
        assertEquals(0x3f80, Half.floatToBf16(1f + 0x1p-8f) & 0xffff);
        assertEquals(0x3f82, Half.floatToBf16(1f + 0x3p-8f) & 0xffff);
        assertEquals(0x7f80, Half.floatToBf16(Float.MAX_VALUE) & 0xffff, "rounds past the largest bf16");
    }

    @Test
    void everyFiniteHalfAndBf16SurvivesARoundTrip() {
        for (int h = 0; h < 1 << 16; h++) {
            if (!Double.isNaN(HALF.value(h))) {
                assertEquals(h, Half.fromFloat(Half.toFloat((short) h)) & 0xffff);
            }
            if (!Double.isNaN(BF16.value(h))) {
                assertEquals(h, Half.floatToBf16(Half.bf16ToFloat((short) h)) & 0xffff);
            }
        }
    }

    private interface Rounder {
        int round(float f);
    }

    private static void checkRounding(Format fmt, float[] cases, Rounder impl) {
        for (float f : cases) {
            int got = impl.round(f);
            if (Float.isNaN(f)) {
                assertTrue(Double.isNaN(fmt.value(got)), "NaN stays NaN");
                assertEquals(Float.floatToRawIntBits(f) >>> 31, got >>> 15, "NaN sign");
            } else {
                int want = fmt.round(f);
                if (want != got) {
                    throw new AssertionError(String.format("%s of %s (0x%08x): got 0x%04x, expected 0x%04x",
                            fmt, f, Float.floatToRawIntBits(f), got, want));
                }
            }
        }
    }

    private static float[] randomFloats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int k = 0; k < n; k++) {
            // half of them uniform over all patterns (NaNs included), half around the half-precision range
            a[k] = k % 2 == 0 ? Float.intBitsToFloat(rnd.nextInt())
                    : Float.intBitsToFloat((rnd.nextInt(95, 145) << 23) | rnd.nextInt(1 << 23) | (rnd.nextBoolean() ? 1 << 31 : 0));
        }
        return a;
    }

    // ---------------------------------------------------------------- header and metadata

    @Test
    void metadataRoundTripsInOrder() {
        Path p = dir.resolve("meta.safetensors");
        new SafetensorsWriter()
                .metadata("format", "pt")
                .metadata(Map.of("ünïcode \"quoted\"", "line\nbreak"))
                .metadata("alpha", "8")
                .putFloats("x", new long[] {1}, new float[] {1f})
                .write(p);
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            assertEquals(List.of("format", "ünïcode \"quoted\"", "alpha"), List.copyOf(st.metadata().keySet()));
            assertEquals("line\nbreak", st.metadata().get("ünïcode \"quoted\""));
            assertEquals(List.of("x"), st.names());
        }
    }

    @Test
    void noMetadataMeansNoMetadataKey() throws IOException {
        Path p = dir.resolve("plain.safetensors");
        new SafetensorsWriter().putFloats("x", new long[] {1}, new float[] {1f}).write(p);
        assertFalse(headerText(p).contains("__metadata__"));
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            assertTrue(st.metadata().isEmpty());
        }
    }

    @Test
    void headerIsPaddedWithSpacesToEightBytes() throws IOException {
        for (int len = 1; len <= 9; len++) { // names of every length mod 8
            Path p = dir.resolve("pad" + len + ".safetensors");
            long size = new SafetensorsWriter().putLongs("n".repeat(len), new long[] {2}, new long[] {7, 8}).write(p);
            byte[] all = Files.readAllBytes(p);
            assertEquals(all.length, size);
            long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, n % 8, "header length " + n);
            String header = new String(all, 8, (int) n, StandardCharsets.UTF_8);
            String json = header.stripTrailing();
            assertTrue(header.substring(json.length()).chars().allMatch(c -> c == ' '));
            assertTrue(header.length() - json.length() < 8);
            JsonObject o = JsonParser.parseString(json).getAsJsonObject();
            assertEquals("[0,16]", o.getAsJsonObject("n".repeat(len)).get("data_offsets").toString());
            assertEquals(8 + n + 16, all.length);
        }
    }

    @Test
    void readsHeadersWithExtraPaddingAndUnknownFields() throws IOException {
        Path p = rawFile("padded", "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":{\"x\":[1]}}}"
                + " ".repeat(37), le(new int[] {5, -6}));
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            assertArrayEquals(new long[] {5, -6}, st.longs("a"));
        }
    }

    @Test
    void headerListsTensorsInInsertionOrderWithContiguousOffsets() throws IOException {
        Path p = dir.resolve("order.safetensors");
        new SafetensorsWriter()
                .putFloats("z", new long[] {3}, new float[3])
                .putLongs("a", new long[] {1}, new long[1])
                .putFloats("m", SafetensorsDtype.F16, new long[] {5}, new float[5])
                .write(p);
        JsonObject o = JsonParser.parseString(headerText(p)).getAsJsonObject();
        assertEquals(List.of("z", "a", "m"), List.copyOf(o.keySet()));
        assertEquals("[0,12]", o.getAsJsonObject("z").get("data_offsets").toString());
        assertEquals("[12,20]", o.getAsJsonObject("a").get("data_offsets").toString());
        assertEquals("[20,30]", o.getAsJsonObject("m").get("data_offsets").toString());
        assertEquals("\"F16\"", o.getAsJsonObject("m").get("dtype").toString());
    }

    @Test
    void writeReplacesAnExistingFileAtomically() throws IOException {
        Path p = dir.resolve("over.safetensors");
        Files.writeString(p, "old content");
        new SafetensorsWriter().putFloats("x", new long[] {2}, new float[] {1, 2}).write(p);
        try (SafetensorsFile st = SafetensorsFile.open(p)) {
            assertArrayEquals(new float[] {1, 2}, st.floats("x"));
        }
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(p), files.toList(), "no temporary file left behind");
        }
    }

    // ---------------------------------------------------------------- files written by PyTorch

    @Test
    void readsPyTorchGoldens() throws IOException {
        try (SafetensorsFile st = SafetensorsFile.open(GOLDENS)) {
            assertEquals(629, st.names().size());
            assertEquals(List.of("batch/attention_mask", "batch/decoder_input_ids", "batch/input_ids"), st.names().subList(0, 3));
            assertTrue(st.metadata().isEmpty());

            assertEquals(SafetensorsDtype.I64, st.dtype("batch/input_ids"));
            assertArrayEquals(new long[] {4, 40}, st.shape("batch/input_ids"));
            long[] ids = st.longs("batch/input_ids");
            assertArrayEquals(new long[] {0, 12, 580, 13, 407, 794}, Arrays.copyOf(ids, 6));
            assertEquals(52025, Arrays.stream(ids).sum());
            long[] labels = st.longs("batch/labels");
            assertEquals(26185, Arrays.stream(labels).sum());
            assertEquals(-100, Arrays.stream(labels).min().getAsLong(), "ignored label positions");

            long t = st.shape("batch/decoder_input_ids")[1];
            assertArrayEquals(new long[] {4, t, 2048}, st.shape("logits"));
            float[] logits = st.floats("logits");
            assertEquals(4 * t * 2048, logits.length);
            assertArrayEquals(new float[] {7.259352684020996f, -1.286380410194397f, 1.50128173828125f},
                    Arrays.copyOf(logits, 3));
            assertEquals(-5.705893516540527f, logits[(int) ((1 * t + 2) * 2048 + 3)]);
            assertEquals(-2.0000689029693604f, logits[logits.length - 1]);
            assertEquals(-172945.79075554968, sum(st.doubles("logits")), 1e-4);

            String qa = "init/model.encoder.layers.0.self_attn.q_proj.lora_A";
            assertArrayEquals(new long[] {64, 4}, st.shape(qa));
            assertEquals(0.10821510851383209f, st.floats(qa)[0]);
            assertEquals(0.8718522478011437, sum(st.doubles(qa)), 1e-9);

            // every adapter the golden's description lists has its initial value and three steps of state
            JsonObject desc = JsonParser.parseString(Files.readString(GOLDENS_JSON)).getAsJsonObject();
            int steps = desc.getAsJsonArray("steps").size();
            desc.getAsJsonArray("adapters").forEach(a -> {
                String name = a.getAsString();
                assertTrue(st.contains("init/" + name), name);
                for (int s = 1; s <= steps; s++) {
                    assertTrue(st.contains("step" + s + "/param/" + name), name);
                    assertTrue(st.contains("step" + s + "/exp_avg/" + name), name);
                }
            });
        }
    }

    @Test
    void readsHuggingFaceModel() {
        try (SafetensorsFile st = SafetensorsFile.open(HF_MODEL)) {
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(92, st.names().size());
            assertEquals("final_logits_bias", st.names().get(0));
            assertArrayEquals(new long[] {1, 2048}, st.shape("final_logits_bias"));
            float[] shared = st.floats("model.shared.weight");
            assertArrayEquals(new long[] {2048, 64}, st.shape("model.shared.weight"));
            assertArrayEquals(new float[] {-0.1008620485663414f, -0.19339609146118164f}, Arrays.copyOf(shared, 2));
            assertEquals(456.49986547957474, sum(st.doubles("model.shared.weight")), 1e-6);
            for (SafetensorsTensorInfo t : st.tensors()) {
                assertEquals(SafetensorsDtype.F32, t.dtype());
                assertEquals(t.elementCount(), st.floats(t.name()).length);
            }
        }
    }

    @Test
    void copiesAPyTorchFileByteForByteThroughTheWriter() throws IOException {
        // Re-emitting every tensor in file order must reproduce the data section exactly.
        Path copy = dir.resolve("copy.safetensors");
        try (SafetensorsFile st = SafetensorsFile.open(HF_MODEL)) {
            SafetensorsWriter w = new SafetensorsWriter().metadata(st.metadata());
            for (SafetensorsTensorInfo t : st.tensors()) {
                w.putBytes(t.name(), t.dtype(), t.shape(), st.bytes(t.name()));
            }
            w.write(copy);
        }
        byte[] a = Files.readAllBytes(HF_MODEL);
        byte[] b = Files.readAllBytes(copy);
        int ha = 8 + (int) ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN).getLong();
        int hb = 8 + (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertArrayEquals(Arrays.copyOfRange(a, ha, a.length), Arrays.copyOfRange(b, hb, b.length));
        assertEquals(JsonParser.parseString(new String(a, 8, ha - 8, StandardCharsets.UTF_8)),
                JsonParser.parseString(new String(b, 8, hb - 8, StandardCharsets.UTF_8)));
    }

    @Test
    void smallWindowsGiveTheSameValuesAsOneMapping() {
        // Small strides put tensors across window boundaries and split the logits into many chunks,
        // as multi-GiB tensors are in real files. (Not too small: each window is one mmap, and the
        // kernel caps a process at ~65k mappings.)
        try (SafetensorsFile whole = SafetensorsFile.open(GOLDENS)) {
            for (int stride : new int[] {1000, 4096}) {
                try (SafetensorsFile chunked = SafetensorsFile.open(GOLDENS, stride)) {
                    for (SafetensorsTensorInfo t : whole.tensors()) {
                        if (t.dtype() == SafetensorsDtype.I64) {
                            assertArrayEquals(whole.longs(t.name()), chunked.longs(t.name()), t.name());
                        } else {
                            assertArrayEquals(whole.floats(t.name()), chunked.floats(t.name()), t.name());
                            assertArrayEquals(whole.doubles(t.name()), chunked.doubles(t.name()), t.name());
                        }
                        assertEquals(whole.bytes(t.name()), chunked.bytes(t.name()), t.name());
                    }
                    assertTrue(chunked.mappedWindows() > 1);
                }
            }
            assertEquals(1, whole.mappedWindows(), "a small file is one mapping");
        }
    }

    @Test
    void smallWindowsDecodeEveryFloatType() {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] v = new float[1001];
        for (int k = 0; k < v.length; k++) {
            v[k] = (float) rnd.nextGaussian();
        }
        Path p = dir.resolve("chunks.safetensors");
        new SafetensorsWriter()
                .putFloats("h", SafetensorsDtype.F16, new long[] {v.length}, v)
                .putFloats("b", SafetensorsDtype.BF16, new long[] {v.length}, v)
                .putFloats("d", SafetensorsDtype.F64, new long[] {v.length}, v)
                .putInts("i", new long[] {v.length}, new int[v.length])
                .write(p);
        try (SafetensorsFile a = SafetensorsFile.open(p); SafetensorsFile b = SafetensorsFile.open(p, 40)) {
            for (String name : a.names()) {
                if (name.equals("i")) {
                    assertArrayEquals(a.longs(name), b.longs(name));
                } else {
                    assertArrayEquals(a.floats(name), b.floats(name), name);
                    assertArrayEquals(a.doubles(name), b.doubles(name), name);
                }
            }
            assertArrayEquals(v, a.floats("d"));
        }
    }

    // ---------------------------------------------------------------- accessor misuse

    @Test
    void accessorsRefuseWrongTypesUnknownNamesAndClosedFiles() {
        SafetensorsFile st = SafetensorsFile.open(GOLDENS);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> st.floats("batch/input_ids"));
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
        assertTrue(e.getMessage().contains("tensor 'batch/input_ids'") && e.getMessage().contains("I64"), e.getMessage());
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, assertThrows(OnnxLoraException.class, () -> st.longs("logits")).code());
        e = assertThrows(OnnxLoraException.class, () -> st.floats("nope"));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains(GOLDENS.toString()) && e.getMessage().contains("'nope'"), e.getMessage());
        ByteBuffer kept = st.bytes("logits");
        st.close();
        assertThrows(IllegalStateException.class, () -> st.floats("logits"));
        assertEquals(7.259352684020996f, kept.getFloat(0), "views stay valid after close");
    }

    @Test
    void writerRefusesMisuse() {
        SafetensorsWriter w = new SafetensorsWriter().putFloats("x", new long[] {2}, new float[2]);
        assertThrows(IllegalArgumentException.class, () -> w.putFloats("x", new long[] {2}, new float[2]));
        assertThrows(IllegalArgumentException.class, () -> w.putFloats("y", new long[] {3}, new float[2]));
        assertThrows(IllegalArgumentException.class, () -> w.putFloats("y", new long[] {-1}, new float[0]));
        assertThrows(IllegalArgumentException.class, () -> w.putFloats("__metadata__", new long[] {1}, new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.putFloats("y", SafetensorsDtype.I32, new long[] {1}, new float[1]));
        assertThrows(IllegalArgumentException.class,
                () -> w.putBytes("y", SafetensorsDtype.F32, new long[] {2}, ByteBuffer.allocate(7)));
        assertThrows(IllegalArgumentException.class,
                () -> w.putBytes("y", SafetensorsDtype.F4, new long[] {3}, ByteBuffer.allocate(2)));
    }

    // ---------------------------------------------------------------- invalid files

    private static final String GOOD = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            + "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}}";

    @Test
    void theWellFormedBaselineOpens() throws IOException {
        try (SafetensorsFile st = SafetensorsFile.open(rawFile("good", GOOD, new byte[16]))) {
            assertEquals(List.of("a", "b"), st.names());
        }
    }

    @Test
    void rejectsTruncatedFiles() throws IOException {
        byte[] good = Files.readAllBytes(GOLDENS);
        assertInvalid(write("empty", new byte[0]), "truncated");
        assertInvalid(write("seven", Arrays.copyOf(good, 7)), "truncated");
        assertInvalid(write("inheader", Arrays.copyOf(good, 1000)), "truncated: header length is 78568 bytes");
        // cut inside the data: the message names the first tensor that no longer fits
        OnnxLoraException e = assertInvalid(write("indata", Arrays.copyOf(good, good.length - 100)), "tensor '");
        assertTrue(e.getMessage().contains("past the end") && e.getMessage().contains("truncated"), e.getMessage());
        assertInvalid(rawFile("short", GOOD, new byte[15]), "tensor 'b': data_offsets [8, 16] run past the end");
    }

    @Test
    void rejectsImplausibleHeaderLengths() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1L);
        assertInvalid(write("huge", b.array()), "header length 18446744073709551615 is implausible");
        b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(200_000_000L);
        assertInvalid(write("big", b.array()), "implausible");
        assertInvalid(write("text", "# not a safetensors file at all\n".getBytes(StandardCharsets.UTF_8)), "implausible");
    }

    @Test
    void rejectsBadJson() throws IOException {
        assertInvalid(rawFile("notjson", "{\"a\":{\"dtype\":\"F32\",", new byte[0]), "not valid safetensors JSON");
        assertInvalid(rawFile("trailingcomma", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", new byte[4]),
                "not valid safetensors JSON");
        assertInvalid(rawFile("unquoted", "{a:1}", new byte[0]), "not valid safetensors JSON");
        assertInvalid(rawFile("twoobjects", "{} {}", new byte[0]), "not valid safetensors JSON");
        assertInvalid(rawFile("array", "[1,2]    ", new byte[0]), "does not start with '{'");
        assertInvalid(rawFile("nul", "{}\0\0\0\0\0\0", new byte[0]), "not valid safetensors JSON");
        byte[] latin1 = "{\"\u00e9\":{}}".getBytes(StandardCharsets.ISO_8859_1);
        assertInvalid(rawFileBytes("latin1", latin1, new byte[0]), "not valid UTF-8");
        assertInvalid(rawFile("entryarray", "{\"a\":[1]}", new byte[0]), "tensor 'a': header entry is BEGIN_ARRAY");
        assertInvalid(rawFile("metanum", "{\"__metadata__\":{\"k\":1}}", new byte[0]), "metadata values must be strings");
    }

    @Test
    void rejectsInconsistentEntries() throws IOException {
        assertInvalid(rawFile("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", new byte[12]),
                "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
        assertInvalid(rawFile("same", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]), "overlap tensor 'a'");
        assertInvalid(rawFile("gap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}", new byte[16]),
                "tensor 'b': data_offsets [12, 16] leave bytes [8, 12) of the data unused");
        assertInvalid(rawFile("pastend", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]),
                "tensor 'a': data_offsets [0, 16] run past the end of the data (8 bytes");
        assertInvalid(rawFile("trailing", GOOD, new byte[20]), "4 bytes after the last tensor are not covered");
        assertInvalid(rawFile("size", "{\"a\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", new byte[8]),
                "tensor 'a': data_offsets [0, 8] span 8 bytes, but F16 [2, 3] needs 12");
        assertInvalid(rawFile("backwards", "{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,0]}}", new byte[8]),
                "tensor 'a': data_offsets [8, 0] end before they begin");
        assertInvalid(rawFile("dtype", "{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", new byte[16]),
                "tensor 'a': unknown dtype 'F128'");
        assertInvalid(rawFile("lower", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]),
                "unknown dtype 'f32'");
        assertInvalid(rawFile("noshape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor 'a': header entry has no 'shape'");
        assertInvalid(rawFile("negdim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor 'a': shape holds -1");
        assertInvalid(rawFile("fracdim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", new byte[4]),
                "tensor 'a': shape holds 1.0");
        assertInvalid(rawFile("threeoffsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", new byte[4]),
                "tensor 'a': data_offsets has 3 numbers");
        assertInvalid(rawFile("bigdim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                new byte[4]), "tensor 'a': shape [4294967296, 4294967296] is too large");
        assertInvalid(rawFile("hugenum", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}",
                new byte[4]), "too large");
        assertInvalid(rawFile("f4odd", "{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", new byte[2]),
                "whole number of bytes");
        assertInvalid(rawFile("dupkey", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", new byte[8]), "duplicate header key 'a'");
        assertInvalid(rawFile("dupmeta", "{\"__metadata__\":null,\"__metadata__\":{}}", new byte[0]), "duplicate header key");
        assertInvalid(rawFile("dupfield", "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                new byte[4]), "tensor 'a': duplicate field 'dtype'");
    }

    // ---------------------------------------------------------------- helpers

    /** Opening must fail with INVALID_MODEL, naming the file and containing {@code expected}. */
    private static OnnxLoraException assertInvalid(Path p, String expected) {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> SafetensorsFile.open(p).close(), p.toString());
        assertEquals(ErrorCode.INVALID_MODEL, e.code(), e.getMessage());
        assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(expected), "expected '" + expected + "' in: " + e.getMessage());
        return e;
    }

    private Path rawFile(String name, String json, byte[] data) throws IOException {
        return rawFileBytes(name, json.getBytes(StandardCharsets.UTF_8), data);
    }

    private Path rawFileBytes(String name, byte[] header, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header).put(data);
        return write(name, b.array());
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name + ".safetensors");
        Files.write(p, bytes);
        return p;
    }

    private static String headerText(Path p) throws IOException {
        byte[] all = Files.readAllBytes(p);
        long n = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return new String(all, 8, (int) n, StandardCharsets.UTF_8);
    }

    private static byte[] le(int[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putInt(v);
        }
        return b.array();
    }

    private static double sum(double[] values) {
        double s = 0;
        for (double v : values) {
            s += v;
        }
        return s;
    }

    private static void assertBitsEqual(float[] want, float[] got) {
        assertEquals(want.length, got.length);
        for (int k = 0; k < want.length; k++) {
            assertBitsEqual(want[k], got[k]);
        }
    }

    private static void assertBitsEqual(double want, float got) {
        if (Double.isNaN(want)) {
            assertTrue(Float.isNaN(got), "expected NaN, got " + got);
        } else {
            assertEquals(Double.doubleToRawLongBits(want), Double.doubleToRawLongBits(got), want + " vs " + got);
        }
    }
}
