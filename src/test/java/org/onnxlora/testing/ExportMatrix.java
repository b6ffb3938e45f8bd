package org.onnxlora.testing;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The export matrix of tools/make_export_matrix.py: {@code models/exports/manifest.json}, one
 * {@link Fixture} per export shape (exporter, attention, inputs, opset, static shapes, fp16, Optimum
 * folder, model family), each with a reference batch PyTorch computed.
 */
public final class ExportMatrix {
    private ExportMatrix() {}

    public static Path root() {
        Path p = Path.of("models", "exports");
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("run tests from the repository root; " + p.toAbsolutePath() + " missing");
        }
        return p;
    }

    /** The manifest as written, for checks that look beyond the parsed fields. */
    public static JsonObject manifest() {
        try {
            return JsonParser.parseString(Files.readString(root().resolve("manifest.json"))).getAsJsonObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static List<Fixture> fixtures() {
        List<Fixture> out = new ArrayList<>();
        for (JsonElement e : manifest().getAsJsonArray("fixtures")) {
            out.add(Fixture.parse(e.getAsJsonObject()));
        }
        return out;
    }

    /** Every fixture, for tests parameterised over the matrix ({@code @MethodSource}). */
    public static Stream<Fixture> all() {
        return fixtures().stream();
    }

    /** The single-file exports (everything but the Optimum folder). */
    public static Stream<Fixture> singleFiles() {
        return all().filter(f -> f.layout() == Layout.SINGLE);
    }

    public static Fixture named(String name) {
        return all().filter(f -> f.name().equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no fixture " + name + " in the export matrix"));
    }

    public enum Layout { SINGLE, OPTIMUM }

    /**
     * A graph input or output as the export declares it.
     *
     * @param shape per axis a fixed size ({@link Long}), a symbolic name ({@link String}), or null (neither)
     */
    public record Value(String name, String dtype, List<Object> shape) {
        static Value parse(JsonObject o) {
            List<Object> dims = new ArrayList<>();
            for (JsonElement d : o.getAsJsonArray("shape")) {
                if (d.isJsonNull()) {
                    dims.add(null);
                } else if (d.getAsJsonPrimitive().isNumber()) {
                    dims.add(d.getAsLong());
                } else {
                    dims.add(d.getAsString());
                }
            }
            return new Value(o.get("name").getAsString(), o.get("dtype").getAsString(), dims);
        }
    }

    /** One ONNX file's declared signature. */
    public record Signature(Path file, int opset, List<Value> inputs, List<Value> outputs) {}

    /**
     * One export of the matrix.
     *
     * @param parts one signature per file: the file itself, or the Optimum folder's encoder_model,
     *     decoder_model and decoder_with_past_model (keyed by file name without ".onnx")
     * @param reference safetensors with {@code input/<name>} (int64) and {@code output/<name>} (float32) of PyTorch
     * @param configs the Hugging Face config.json (and generation_config.json) the export was made from
     */
    public record Fixture(String name, Layout layout, List<Path> files, String family, String exporter,
            String attention, String dtype, boolean fourInputs, boolean isStatic, int opset,
            Map<String, Signature> parts, Path reference, List<Path> configs, long decoderStartTokenId,
            long padTokenId, long eosTokenId, int vocabSize) {

        public boolean fp16() {
            return dtype.equals("float16");
        }

        /** The single file of a {@link Layout#SINGLE} fixture; for the Optimum folder, the folder. */
        public Path model() {
            return layout == Layout.SINGLE ? files.get(0) : files.get(0).getParent();
        }

        /** The signature of a single-file fixture. */
        public Signature signature() {
            if (layout != Layout.SINGLE) {
                throw new IllegalStateException(name + " is an Optimum folder; use parts()");
            }
            return parts.values().iterator().next();
        }

        @Override
        public String toString() {
            return name; // parameterised test names
        }

        static Fixture parse(JsonObject o) {
            Path root = root();
            List<Path> files = paths(root, o.getAsJsonArray("files"));
            Layout layout = o.get("layout").getAsString().equals("optimum") ? Layout.OPTIMUM : Layout.SINGLE;
            Map<String, Signature> parts = new LinkedHashMap<>();
            if (layout == Layout.SINGLE) {
                parts.put(stem(files.get(0)), signature(files.get(0), o));
            } else {
                JsonObject p = o.getAsJsonObject("parts");
                for (Path f : files) {
                    parts.put(stem(f), signature(f, p.getAsJsonObject(stem(f))));
                }
            }
            return new Fixture(o.get("name").getAsString(), layout, files, o.get("family").getAsString(),
                    o.get("exporter").getAsString(), o.get("attention").getAsString(), o.get("dtype").getAsString(),
                    o.get("four_inputs").getAsBoolean(), o.get("static").getAsBoolean(), o.get("opset").getAsInt(),
                    parts, root.resolve(o.get("reference").getAsString()).normalize(),
                    paths(root, o.getAsJsonArray("configs")), o.get("decoder_start_token_id").getAsLong(),
                    o.get("pad_token_id").getAsLong(), o.get("eos_token_id").getAsLong(),
                    o.get("vocab_size").getAsInt());
        }

        private static Signature signature(Path file, JsonObject o) {
            return new Signature(file, o.get("opset").getAsInt(), values(o.getAsJsonArray("inputs")),
                    values(o.getAsJsonArray("outputs")));
        }

        private static List<Value> values(JsonArray a) {
            List<Value> out = new ArrayList<>();
            a.forEach(e -> out.add(Value.parse(e.getAsJsonObject())));
            return out;
        }

        private static List<Path> paths(Path root, JsonArray a) {
            List<Path> out = new ArrayList<>();
            a.forEach(e -> out.add(root.resolve(e.getAsString()).normalize()));
            return out;
        }

        private static String stem(Path f) {
            String n = f.getFileName().toString();
            return n.endsWith(".onnx") ? n.substring(0, n.length() - ".onnx".length()) : n;
        }
    }
}
