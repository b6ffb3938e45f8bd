package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.Progress;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.eval.AdapterOverrides;
import org.onnxlora.eval.LossEvaluator;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.run.Checkpoint;
import org.onnxlora.train.OptimumFolder;
import org.onnxlora.testing.Fixtures;

/**
 * Every export of {@code models/exports/manifest.json} (tools/make_export_matrix.py) through the six
 * stages, as a user runs them: inspect, patch (B = 0 equals the base), train a few steps (validation
 * loss drops), merge (merged equals patched with the trained adapters within 1e-4), eval, generate.
 * An fp16 export trains with float32 adapters (computing in float32 from its float16 weights, the
 * default precision) and merges into float16.
 */
class ExportMatrixStagesTest {
    @TempDir
    static Path tmp;
    static Path trainData;
    static Path validData;

    record Fixture(String name, Path model, boolean optimum, boolean fp16) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Fixture> fixtures() throws IOException {
        Path root = Path.of("models", "exports");
        JsonObject m = JsonParser.parseString(Files.readString(root.resolve("manifest.json"))).getAsJsonObject();
        List<Fixture> out = new ArrayList<>();
        for (JsonElement e : m.getAsJsonArray("fixtures")) {
            JsonObject f = e.getAsJsonObject();
            boolean optimum = f.get("layout").getAsString().equals("optimum");
            Path first = root.resolve(f.getAsJsonArray("files").get(0).getAsString()).normalize();
            out.add(new Fixture(f.get("name").getAsString(), optimum ? first.getParent() : first, optimum,
                    f.get("dtype").getAsString().equals("float16")));
        }
        return out.stream();
    }

    @BeforeAll
    static void data() throws IOException {
        trainData = Fixtures.manPageRows(tmp.resolve("train.jsonl"), "train", 32);
        validData = Fixtures.manPageRows(tmp.resolve("valid.jsonl"), "valid", 8);
    }

    static CliTest.Run ok(String... args) {
        CliTest.Run r = CliTest.run(args);
        assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
        return r;
    }

    static List<Path> files(Fixture f) {
        return f.optimum() ? List.of(f.model().resolve("encoder_model.onnx"), f.model().resolve("decoder_model.onnx"),
                f.model().resolve("decoder_with_past_model.onnx")) : List.of(f.model());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void sixStages(Fixture f) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve(f.name()));
        // 1. inspect
        assertTrue(ok("inspect", "--model", f.model().toString(), "--json").out().contains("q_proj"));
        // 2. patch: B = 0 leaves every output as it was
        Path patched = dir.resolve(f.optimum() ? "patched" : "patched.onnx");
        ok("patch", "--model", f.model().toString(), "--out", patched.toString(), "--target", "q_proj,v_proj", "-q");
        for (Path file : files(f)) {
            Path p = f.optimum() ? patched.resolve(file.getFileName()) : patched;
            ok("verify", "--a", file.toString(), "--b", p.toString(), "--tolerance", f.fp16() ? "1e-3" : "1e-6", "-q");
        }
        // 3. train
        Path run = dir.resolve("run");
        List<String> train = List.of("train", "--model", f.model().toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--train", trainData.toString(), "--valid", validData.toString(),
                "--out", run.toString(), "--batch-size", "8", "--lr", "1e-2", "--steps", "4", "--threads", "2",
                "--target", "q_proj,v_proj", "--max-source-length", "64", "--max-target-length", "16", "-q");
        CliTest.Run t = CliTest.run(train.toArray(String[]::new));
        assertEquals(0, t.code(), t.err());
        JsonObject s = JsonParser.parseString(t.out()).getAsJsonObject();
        assertTrue(s.get("valid_loss").getAsDouble() < s.get("initial_valid_loss").getAsDouble(), s.toString());
        // 4. merge: merged == patched with the trained adapters
        Path runModel = Path.of(s.get("model").getAsString());
        Path merged = dir.resolve(f.optimum() ? "merged" : "merged.onnx");
        ok("merge", "--model", runModel.toString(), "--adapter", run.toString(), "--out", merged.toString(), "-q");
        if (f.fp16()) {
            assertTrue(ModelIO.load(merged).getGraph().getInitializerList().stream()
                    .filter(w -> org.onnxlora.io.Tensors.elementCount(w) > 64)
                    .allMatch(w -> w.getDataType() == org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT16_VALUE),
                    "merge folds the float32 adapters into the export's own float16");
        }
        double patchedLoss = patchedLoss(runModel, run, dir, f.optimum());
        // fp16: the run computes in float32 from the float16 weights, the patched model in float16 with its
        // adapters rounded to float16 (as merge rounds them): float16's rounding, 1e-3 relative, is the bound
        double tol = f.fp16() ? 1e-3 * patchedLoss : 1e-4;
        assertEquals(s.get("valid_loss").getAsDouble(), patchedLoss, tol, "the run's own validation");
        // 5. eval: the merged model's loss is the patched model's with the trained adapters
        double mergedLoss;
        if (f.optimum()) {
            Path joined = dir.resolve("joined-merged.onnx");
            ModelIO.save(OptimumFolder.load(merged, ModelFamily.bart()).joined(), joined);
            try (AdapterOverrides none = AdapterOverrides.none()) {
                mergedLoss = loss(joined, merged, none);
            }
        } else {
            mergedLoss = JsonParser.parseString(ok("eval", "--model", merged.toString(), "--tokenizer",
                    Fixtures.tokenizer().toString(), "--data", validData.toString(), "--max-source-length", "64",
                    "--max-target-length", "16", "--no-generate", "--threads", "2", "-q").out())
                    .getAsJsonObject().get("loss").getAsDouble();
        }
        assertEquals(patchedLoss, mergedLoss, tol, "merged vs patched + adapters");
        Path preds = dir.resolve("preds.jsonl");
        ok("generate", "--model", merged.toString(), "--tokenizer", Fixtures.tokenizer().toString(), "--input",
                validData.toString(), "--out", preds.toString(), "--max-source-length", "64", "--max-new-tokens", "8",
                "--batch-size", "3", "--threads", "2", "-q");
        assertEquals(8, Files.readAllLines(preds).size());
    }

    /** Validation loss of the run's patched model with the run's adapters (an Optimum folder as one joined graph). */
    static double patchedLoss(Path runModel, Path run, Path dir, boolean optimum) {
        Path p = runModel;
        if (optimum) {
            p = dir.resolve("joined-patched.onnx");
            ModelIO.save(OptimumFolder.load(runModel, ModelFamily.bart()).joined(), p);
        }
        try (AdapterOverrides ov = new AdapterOverrides(ModelIO.load(p), Checkpoint.adapters(run))) {
            return loss(p, runModel, ov);
        }
    }

    /** Loss of {@code file} on the validation rows; {@code configFrom} is where its config.json is found. */
    static double loss(Path file, Path configFrom, AdapterOverrides adapters) {
        ModelFamily bart = ModelFamily.bart();
        try (TextTokenizer tok = TextTokenizer.load(Fixtures.tokenizer())) {
            ModelProto pm = ModelIO.load(file);
            Seq2SeqSignature sig = Seq2SeqSignature.of(pm, configFrom, bart);
            DataConfig dc = DataConfig.forTokenizer(tok).withMaxLengths(64, 16)
                    .withDecoderStartTokenId((int) sig.decoderStartTokenId());
            var batches = Batcher.inOrder(Dataset.load(validData, ReaderOptions.DEFAULT, tok, dc, Progress.NONE)
                    .examples(), 8, dc);
            try (LossEvaluator ev = new LossEvaluator(file, sig, adapters, RuntimeOptions.defaults().withThreads(2))) {
                return ev.evaluate(batches, Progress.NONE).loss();
            }
        }
    }
}
