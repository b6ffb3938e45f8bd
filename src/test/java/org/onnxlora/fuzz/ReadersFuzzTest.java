package org.onnxlora.fuzz;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataFormat;
import org.onnxlora.data.DataReader;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReadResult;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.graph.ModelValidator;
import org.onnxlora.io.Json;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SafetensorsDtype;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsTensorInfo;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.lora.BranchMergePass;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.ModelSummary;
import org.onnxlora.lora.NonFinitePolicy;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;
import org.onnxlora.train.AdapterSpec;
import org.onnxlora.run.Checkpoint;

/**
 * The fuzz harness of issue 10 (see {@link Fuzz} for the property, seeds and how to run it longer;
 * docs/testing.md for what it ran and found). One test per reader.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES) // a hang is a finding too; the CI run takes seconds
class ReadersFuzzTest {
    @TempDir
    static Path work;

    private static ModelProto seedModel;
    private static byte[] seedModelBytes;
    private static byte[] seedModelData;
    private static TextTokenizer tokenizer;

    /** A two-projection model, patched (LoRA branches + metadata), its weights in external data. */
    @BeforeAll
    static void seeds() throws IOException {
        int f = TensorProto.DataType.FLOAT_VALUE;
        TinyGraphs t = new TinyGraphs(7).input("x", f, "batch", 16);
        String q = t.linear("x", "model.encoder.layers.0.self_attn.q_proj", 16, 16, f, null);
        String v = t.linear(q, "model.encoder.layers.0.self_attn.v_proj", 16, 16, f, null);
        ModelProto base = t.output(v, f, "batch", 16).model();
        PatchPass pass = new PatchPass(ModelFamily.bart());
        LoraConfig cfg = new LoraConfig(2, 4, List.of("q_proj", "v_proj"), LoraConfig.Init.GAUSSIAN, 1);
        PatchPlan plan = pass.plan(base, null, cfg);
        ModelProto patched = pass.apply(base, cfg, plan, new AdapterInit(cfg.init(), cfg.seed())).output();
        Path dir = Files.createDirectories(work.resolve("seed"));
        ModelIO.save(patched, dir.resolve("model.onnx"), ModelIO.ExternalData.ALWAYS);
        seedModelBytes = Files.readAllBytes(dir.resolve("model.onnx"));
        seedModelData = Files.readAllBytes(dir.resolve("model.onnx.data"));
        seedModel = ModelProto.parseFrom(seedModelBytes);
        Files.writeString(work.resolve("outside.data"), "a file outside every model folder".repeat(64));
    }

    @AfterAll
    static void close() {
        if (tokenizer != null) {
            tokenizer.close();
        }
    }

    // ------------------------------------------------------------------ ONNX loader

    /** What load and the first readers after it do with a model: inspect, validate, merge. */
    private static boolean loadAndRead(Path file) {
        ModelProto m = ModelIO.load(file);
        ModelValidator.check(m, file.toString());
        ModelSummary s = ModelSummary.of(m, file, ModelFamily.bart(), false);
        assertNotNull(s.projections());
        LoraMetadata.read(m).ifPresent(i -> i.modules().forEach(mod -> assertNotNull(mod.module())));
        if (!BranchFinder.find(m.getGraph()).isEmpty()) {
            new BranchMergePass(NonFinitePolicy.ALLOW).apply(m, org.onnxlora.lora.AdapterValues.none());
        }
        return true;
    }

    private static void writeModelFolder(Path dir, byte[] model) throws IOException {
        Files.write(dir.resolve("model.onnx"), model);
        Files.write(dir.resolve("model.onnx.data"), seedModelData);
        Files.createSymbolicLink(dir.resolve("link.data"), work.resolve("outside.data"));
    }

    @Test
    void onnxModelStructure() throws IOException {
        Fuzz.run("onnx-structure", 1000, work, (r, dir) -> {
            writeModelFolder(dir, ModelMutations.mutate(seedModel, r).toByteArray());
            return loadAndRead(dir.resolve("model.onnx"));
        });
    }

    @Test
    void onnxModelBytes() throws IOException {
        Fuzz.run("onnx-bytes", 1000, work, (r, dir) -> {
            writeModelFolder(dir, Mutate.bytes(seedModelBytes, r, 4));
            return loadAndRead(dir.resolve("model.onnx"));
        });
    }

    @Test
    void onnxRandomProtobuf() throws IOException {
        Fuzz.run("onnx-random-proto", 1000, work, (r, dir) -> {
            writeModelFolder(dir, ModelMutations.randomProtobuf(r, 4));
            return loadAndRead(dir.resolve("model.onnx"));
        });
    }

    /** The real 2 MB export: fewer tries, each flips bytes anywhere in it (weights, graph, metadata). */
    @Test
    void onnxRealFixtureBytes() throws IOException {
        byte[] real = Files.readAllBytes(Fixtures.torchscript());
        Fuzz.run("onnx-fixture-bytes", 40, work, (r, dir) -> {
            Files.write(dir.resolve("model.onnx"), Mutate.bytes(real, r, 3));
            return loadAndRead(dir.resolve("model.onnx"));
        });
    }

    // ------------------------------------------------------------------ safetensors

    private static byte[] seedSafetensors(Path dir) throws IOException {
        ByteBuffer bools = ByteBuffer.wrap(new byte[] {0, 1, 1});
        ByteBuffer u8 = ByteBuffer.wrap(new byte[] {7, (byte) 200});
        Path p = dir.resolve("seed.safetensors");
        new SafetensorsWriter().metadata("format", "pt")
                .putFloats("f32", new long[] {2, 3}, new float[] {1, 2, 3, 4, 5, 6})
                .putFloats("f16", SafetensorsDtype.F16, new long[] {4}, new float[] {1, -2, 0.5f, 65504})
                .putFloats("bf16", SafetensorsDtype.BF16, new long[] {1, 2}, new float[] {3, 4})
                .putDoubles("f64", new long[] {2}, new double[] {Math.PI, -1})
                .putLongs("i64", new long[] {2}, new long[] {Long.MIN_VALUE, 9})
                .putInts("i32", new long[0], new int[] {5})
                .putBytes("bool", SafetensorsDtype.BOOL, new long[] {3}, bools)
                .putBytes("u8", SafetensorsDtype.U8, new long[] {2}, u8)
                .write(p);
        return Files.readAllBytes(p);
    }

    /** Reads every tensor with the accessor its dtype allows, as the commands do. */
    private static boolean readAll(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            f.metadata().forEach((k, v) -> assertNotNull(v));
            for (SafetensorsTensorInfo t : f.tensors()) {
                if (t.dtype().isFloat()) {
                    f.floats(t.name());
                    f.doubles(t.name());
                } else if (t.dtype().isExactLong()) {
                    f.longs(t.name());
                } else {
                    f.bytes(t.name());
                }
            }
        }
        return true;
    }

    /** The seed with its JSON header replaced by {@code json} (length prefix kept truthful). */
    private static byte[] withHeader(byte[] seed, String json) {
        long n = ByteBuffer.wrap(seed, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + seed.length - 8 - (int) n).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(seed, 8 + (int) n, seed.length - 8 - (int) n);
        return out.array();
    }

    @Test
    void safetensors() throws IOException {
        byte[] seed = seedSafetensors(Files.createDirectories(work.resolve("st-seed")));
        long n = ByteBuffer.wrap(seed, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(seed, 8, (int) n, StandardCharsets.UTF_8);
        Fuzz.run("safetensors", 1600, work, (r, dir) -> {
            byte[] b = r.nextInt(3) == 0 ? Mutate.bytes(seed, r, 4) : withHeader(seed, Mutate.text(header, r, 3));
            Path p = dir.resolve("x.safetensors");
            Files.write(p, b);
            return readAll(p);
        });
    }

    // ------------------------------------------------------------------ onnx_lora metadata

    @Test
    void loraMetadata() throws IOException {
        String json = seedModel.getMetadataPropsList().stream().filter(e -> e.getKey().equals(LoraMetadata.KEY))
                .findFirst().orElseThrow().getValue();
        Fuzz.runInMemory("onnx_lora-metadata", 10000, work, (r, dir) -> {
            ModelProto m = LoraMetadata.withEntry(seedModel, LoraMetadata.KEY, Mutate.text(json, r, 4));
            LoraMetadata.Info info = LoraMetadata.read(m).orElseThrow();
            // what inspect, merge and train then do with it
            long trainable = info.modules().stream().mapToLong(x -> (x.in() + x.out()) * x.rank()).sum();
            assertNotNull(info.trainable());
            return trainable >= 0;
        });
    }

    // ------------------------------------------------------------------ checkpoints

    private static final String A = "model.encoder.layers.0.self_attn.q_proj.lora_A";
    private static final String B = "model.encoder.layers.0.self_attn.q_proj.lora_B";

    /** A run folder with one complete checkpoint, as Checkpoint.save lays it out. */
    private static void writeRun(Path run, byte[][] files) throws IOException {
        Path step = Files.createDirectories(run.resolve("checkpoints").resolve("step-3"));
        Files.write(step.resolve(Checkpoint.STATE), files[0]);
        Files.write(step.resolve(Checkpoint.ADAPTERS), files[1]);
        Files.write(step.resolve(Checkpoint.OPTIMIZER), files[2]);
        Files.write(run.resolve("checkpoints").resolve(Checkpoint.LATEST), files[3]);
    }

    @Test
    void checkpoint() throws IOException {
        Path seedDir = Files.createDirectories(work.resolve("ck-seed"));
        float[] a = new float[32];
        float[] b = new float[32];
        java.util.Arrays.fill(a, 0.5f);
        new SafetensorsWriter().putFloats(A, new long[] {16, 2}, a).putFloats(B, new long[] {2, 16}, b)
                .write(seedDir.resolve("a.safetensors"));
        new SafetensorsWriter().putFloats(AdapterSpec.expAvg(A), new long[] {16, 2}, a)
                .putFloats(AdapterSpec.expAvgSq(A), new long[] {16, 2}, a)
                .putFloats(AdapterSpec.expAvg(B), new long[] {2, 16}, b)
                .putFloats(AdapterSpec.expAvgSq(B), new long[] {2, 16}, b).write(seedDir.resolve("o.safetensors"));
        String state = "{\n  \"step\": 3,\n  \"epoch\": 0,\n  \"batchIndex\": 5,\n  \"seed\": 42,\n"
                + "  \"fingerprint\": \"train.jsonl:1234\",\n  \"lastLoss\": 1.25\n}";
        byte[][] seed = {state.getBytes(StandardCharsets.UTF_8), Files.readAllBytes(seedDir.resolve("a.safetensors")),
                Files.readAllBytes(seedDir.resolve("o.safetensors")), "step-3\n".getBytes(StandardCharsets.UTF_8)};
        int[] nonsense = {0};
        List<String> examples = new ArrayList<>();
        Fuzz.Stats s = Fuzz.run("checkpoint", 800, work, (r, run) -> {
            byte[][] files = seed.clone();
            int which = r.nextInt(10);
            switch (which) {
                case 0, 1, 2, 3, 4 -> files[0] = Mutate.textBytes(state, r, 3);
                case 5 -> files[1] = Mutate.bytes(seed[1], r, 3);
                case 6 -> files[2] = Mutate.bytes(seed[2], r, 3);
                case 7 -> files[3] = Mutate.textBytes("step-3\n", r, 2);
                default -> files[r.nextInt(3)] = new byte[0];
            }
            writeRun(run, files);
            var latest = Checkpoint.latest(run);
            if (latest.isEmpty()) {
                return false;
            }
            Checkpoint.Loaded l = Checkpoint.load(latest.get());
            Checkpoint.adapters(run);
            Checkpoint.State st = l.state();
            // accepted although unusable: helper "runfolder" validates state.json; counted, not failed here
            if (st == null || st.step() < 0 || st.position().batch() < 0 || st.fingerprint() == null
                    || !Double.isFinite(st.lastLoss()) || l.expAvg().isEmpty()) {
                nonsense[0]++;
                if (examples.size() < 5) {
                    examples.add(which < 5 ? new String(files[0], StandardCharsets.UTF_8).replaceAll("\\s+", " ")
                            : "file " + which + " mutated");
                }
            }
            return true;
        });
        System.out.println("fuzz checkpoint: " + nonsense[0] + " of " + s.accepted()
                + " accepted checkpoints have a null/negative/NaN state or no optimizer moments, e.g. " + examples);
    }

    // ------------------------------------------------------------------ data readers

    @Test
    void dataReaders() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("models", "datasets", "manpages", "train.jsonl")).subList(0, 12);
        String jsonl = String.join("\n", lines) + "\n";
        StringBuilder csv = new StringBuilder("source,target\n");
        StringBuilder tsv = new StringBuilder("source\ttarget\n");
        for (String l : lines) {
            var o = com.google.gson.JsonParser.parseString(l).getAsJsonObject();
            String src = o.get("source").getAsString();
            String tgt = o.get("target").getAsString();
            csv.append('"').append(src.replace("\"", "\"\"")).append("\",\"").append(tgt.replace("\"", "\"\"")).append("\"\n");
            tsv.append(src.replace('\t', ' ')).append('\t').append(tgt.replace('\t', ' ')).append('\n');
        }
        tokenizer = TextTokenizer.load(Fixtures.tokenizer());
        DataConfig config = DataConfig.forTokenizer(tokenizer);
        String[] seeds = {jsonl, csv.toString(), tsv.toString()};
        DataFormat[] formats = {DataFormat.JSONL, DataFormat.CSV, DataFormat.TSV};
        Fuzz.run("data-readers", 1200, work, (r, dir) -> {
            int k = r.nextInt(3);
            Path p = dir.resolve("data." + formats[k].name().toLowerCase(java.util.Locale.ROOT));
            Files.write(p, Mutate.textBytes(seeds[k], r, 4));
            ReaderOptions o = new ReaderOptions(r.nextInt(4) == 0 ? null : formats[k], "source", "target", r.nextBoolean());
            ReadResult read = DataReader.read(p, o);
            if (r.nextInt(4) == 0) { // tokenizing is slower: a quarter of the inputs go through the whole Dataset path
                Dataset.encode(read, tokenizer, config, Progress.NONE);
            }
            return true;
        });
    }
}
