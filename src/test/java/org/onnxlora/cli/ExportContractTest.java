package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.io.ModelIO;
import org.onnxlora.testing.ExportVariants;
import org.onnxlora.testing.Fixtures;

/**
 * The model contract through the commands: a 4-input export trains, evaluates and generates exactly
 * like the 3-input export of the same weights, a static-shape export like the dynamic one, and inputs,
 * sizes or folders that cannot work are refused in one line before anything is written.
 */
class ExportContractTest {
    @TempDir
    static Path tmp;
    static Path trainData;
    static Path validData;

    @BeforeAll
    static void data() throws IOException {
        trainData = Fixtures.manPageRows(tmp.resolve("train.jsonl"), "train", 48);
        validData = Fixtures.manPageRows(tmp.resolve("valid.jsonl"), "valid", 12);
    }

    static List<String> train(Path model, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", model.toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--train", trainData.toString(), "--valid", validData.toString(),
                "--out", out.toString(), "--batch-size", "6", "--lr", "3e-3", "--steps", "3", "--threads", "2",
                "--target", "q_proj,v_proj", "--max-source-length", "48", "--max-target-length", "16", "-q"));
        for (int i = 0; i < extra.length; i++) {
            int at = extra[i].startsWith("--") && i + 1 < extra.length ? a.indexOf(extra[i]) : -1;
            if (at >= 0) {
                a.set(at + 1, extra[++i]); // an option given again replaces the default above
            } else {
                a.add(extra[i]);
            }
        }
        return a;
    }

    static JsonObject ok(CliTest.Run r) {
        assertEquals(0, r.code(), r.err());
        return JsonParser.parseString(r.out()).getAsJsonObject();
    }

    static JsonObject eval(Path model, Path run, String... extra) {
        List<String> a = new ArrayList<>(List.of("eval", "--model", model.toString(), "--adapter", run.toString(),
                "--tokenizer", Fixtures.tokenizer().toString(), "--data", validData.toString(), "--threads", "2",
                "--max-source-length", "48", "--max-target-length", "16", "--max-new-tokens", "12", "-q"));
        a.addAll(List.of(extra));
        return ok(CliTest.run(a.toArray(String[]::new)));
    }

    static List<String> generate(Path model, Path run, String name, String... extra) throws IOException {
        Path out = tmp.resolve(name + ".preds.jsonl");
        List<String> a = new ArrayList<>(List.of("generate", "--model", model.toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--input", validData.toString(), "--out", out.toString(),
                "--max-source-length", "48", "--max-new-tokens", "12", "--batch-size", "5", "--threads", "2", "-q"));
        if (run != null) {
            a.addAll(List.of("--adapter", run.toString()));
        }
        a.addAll(List.of(extra));
        ok(CliTest.run(a.toArray(String[]::new)));
        return Files.readAllLines(out).stream()
                .map(l -> JsonParser.parseString(l).getAsJsonObject().get("prediction").getAsString()).toList();
    }

    static JsonObject threeInputRun;

    /** The 3-input export trained with the defaults of {@link #train}, shared by the comparisons. */
    static synchronized JsonObject threeInputRun() {
        if (threeInputRun == null) {
            threeInputRun = ok(CliTest.run(train(Fixtures.torchscript(), tmp.resolve("run3")).toArray(String[]::new)));
        }
        return threeInputRun;
    }

    @Test
    void fourInputExportTrainsEvaluatesAndGeneratesLikeThreeInput() throws IOException {
        Path run3 = tmp.resolve("run3");
        Path run4 = tmp.resolve("run4");
        JsonObject s3 = threeInputRun();
        JsonObject s4 = ok(CliTest.run(train(ExportVariants.fourInput(), run4).toArray(String[]::new)));
        // causal attention keeps padded target positions out of real ones: the mask changes nothing
        for (String k : List.of("initial_valid_loss", "train_loss", "valid_loss")) {
            assertEquals(s3.get(k).getAsDouble(), s4.get(k).getAsDouble(), 1e-6, k);
        }
        assertTrue(s4.get("valid_loss").getAsDouble() < s4.get("initial_valid_loss").getAsDouble(), s4.toString());
        JsonObject e3 = eval(run3.resolve("model.onnx"), run3);
        JsonObject e4 = eval(run4.resolve("model.onnx"), run4);
        assertEquals(e3.get("loss").getAsDouble(), e4.get("loss").getAsDouble(), 1e-6);
        assertEquals(e3.get("rougeL").getAsDouble(), e4.get("rougeL").getAsDouble());
        assertEquals(generate(run3.resolve("model.onnx"), run3, "g3"), generate(run4.resolve("model.onnx"), run4, "g4"));
    }

    @Test
    void staticShapeExportTrainsLikeTheDynamicOne() throws IOException {
        // batch 4 is served to a graph fixed at 3 rows: micro-batches of 3, the last padded with filler rows
        Path fixed = tmp.resolve("static.onnx");
        ModelIO.save(ExportVariants.fixedShapes(ModelIO.load(ExportVariants.fourInput()), 3, 48, 16), fixed);
        Path runD = tmp.resolve("runD");
        Path runS = tmp.resolve("runS");
        JsonObject d = ok(CliTest.run(train(ExportVariants.fourInput(), runD, "--batch-size", "4").toArray(String[]::new)));
        JsonObject s = ok(CliTest.run(train(fixed, runS, "--batch-size", "4").toArray(String[]::new)));
        for (String k : List.of("initial_valid_loss", "train_loss", "valid_loss")) {
            assertEquals(d.get(k).getAsDouble(), s.get(k).getAsDouble(), 1e-5, k);
        }
        assertEquals(eval(runD.resolve("model.onnx"), runD, "--no-generate").get("loss").getAsDouble(),
                eval(runS.resolve("model.onnx"), runS, "--no-generate").get("loss").getAsDouble(), 1e-5);
        assertEquals(generate(runD.resolve("model.onnx"), runD, "gD"), generate(runS.resolve("model.onnx"), runS, "gS"));
    }

    @Test
    void staticSizeSmallerThanTheDataIsReportedUpFront() {
        Path fixed = tmp.resolve("static-small.onnx");
        ModelIO.save(ExportVariants.fixedShapes(ModelIO.load(Fixtures.torchscript()), 2, 16, 8), fixed);
        Path out = tmp.resolve("runSmall");
        CliTest.Run r = CliTest.run(train(fixed, out).toArray(String[]::new));
        CliTest.assertOneLineError(r, 2, "'input_ids'", "16", "--max-source-length");
        assertFalse(Files.exists(out), "nothing may be written");
        List<String> a = train(fixed, out, "--max-source-length", "16");
        CliTest.assertOneLineError(CliTest.run(a.toArray(String[]::new)), 2, "'decoder_input_ids'", "8",
                "--max-target-length");
        assertFalse(Files.exists(out), "nothing may be written");
    }

    @Test
    void unknownRequiredInputIsRefusedBeforeAnyWork() throws IOException {
        Path odd = tmp.resolve("odd.onnx");
        ModelIO.save(ExportVariants.withExtraInput(ModelIO.load(Fixtures.torchscript()), "token_type_ids"), odd);
        Path out = tmp.resolve("runOdd");
        CliTest.assertOneLineError(CliTest.run(train(odd, out).toArray(String[]::new)), 5, "'token_type_ids'",
                "input_ids", "decoder_attention_mask");
        assertFalse(Files.exists(out), "nothing may be written");
        Path preds = tmp.resolve("odd.preds.jsonl");
        CliTest.assertOneLineError(CliTest.run("generate", "--model", odd.toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--input", validData.toString(), "--out", preds.toString(), "-q"), 5,
                "'token_type_ids'");
        assertFalse(Files.exists(preds), "nothing may be written");
        CliTest.assertOneLineError(CliTest.run("eval", "--model", odd.toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--data", validData.toString(), "-q"), 5, "'token_type_ids'");
    }

    @Test
    void lengthsAndIdsOutsideTheModelAreRefused() {
        Path out = tmp.resolve("runLong");
        CliTest.assertOneLineError(CliTest.run(train(Fixtures.torchscript(), out, "--max-source-length", "300")
                .toArray(String[]::new)), 2, "maximum source length 300", "256", "(--max-source-length)");
        CliTest.assertOneLineError(CliTest.run(train(Fixtures.torchscript(), out, "--max-target-length", "257")
                .toArray(String[]::new)), 2, "maximum target length 257", "256", "(--max-target-length)");
        CliTest.assertOneLineError(CliTest.run(train(Fixtures.torchscript(), out, "--decoder-start-token-id", "2048")
                .toArray(String[]::new)), 2, "2048", "vocabulary");
        assertFalse(Files.exists(out), "nothing may be written");
    }

    @Test
    void optimumFolderTrainsAndMergesIntoEveryFile() throws IOException {
        Path runO = tmp.resolve("runO");
        JsonObject o = ok(CliTest.run(train(Fixtures.optimum(), runO).toArray(String[]::new)));
        JsonObject f = threeInputRun();
        // encoder and decoder joined into one graph compute what the single-file export of the same weights does
        for (String k : List.of("initial_valid_loss", "train_loss", "valid_loss")) {
            assertEquals(f.get(k).getAsDouble(), o.get(k).getAsDouble(), 1e-4, k);
        }
        assertEquals(runO.resolve("model").toString(), o.get("model").getAsString());

        // merged from the run's patched folder == the base folder patched, then merged with the same adapters
        Path m1 = tmp.resolve("mergedO1");
        Path patched = tmp.resolve("patchedO");
        Path m2 = tmp.resolve("mergedO2");
        ok2(CliTest.run("merge", "--model", runO.resolve("model").toString(), "--adapter", runO.toString(), "--out",
                m1.toString(), "-q"));
        ok2(CliTest.run("patch", "--model", Fixtures.optimum().toString(), "--out", patched.toString(), "--target",
                "q_proj,v_proj", "-q"));
        ok2(CliTest.run("merge", "--model", patched.toString(), "--adapter", runO.toString(), "--out", m2.toString(),
                "-q"));
        for (String file : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            assertTrue(Files.isRegularFile(m1.resolve(file)), file);
        }
        for (String file : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(m1.resolve(file)), Files.readAllBytes(m2.resolve(file))),
                    file + " merged two ways differs");
            assertFalse(java.util.Arrays.equals(Files.readAllBytes(m1.resolve(file)),
                    Files.readAllBytes(Fixtures.optimum().resolve(file))), file + " did not receive the adapters");
        }
        assertEquals(generate(m1, null, "gO1"), generate(m2, null, "gO2")); // both with the KV cache
        Path peft = tmp.resolve("peftO");
        ok2(CliTest.run("export-adapter", "--adapter", runO.toString(), "--format", "peft", "--out", peft.toString(),
                "-q"));
        assertTrue(Files.isRegularFile(peft.resolve("adapter_model.safetensors")));
    }

    @Test
    void aResumedOptimumRunKeepsItsCompiledSetUp() throws IOException {
        Path run = tmp.resolve("runOResume");
        ok(CliTest.run(train(Fixtures.optimum(), run, "--steps", "2", "--save-every", "1").toArray(String[]::new)));
        Path manifest = run.resolve("artifacts").resolve("artifacts.json");
        java.nio.file.attribute.FileTime compiled = Files.getLastModifiedTime(manifest);
        List<String> more = train(Fixtures.optimum(), run, "--steps", "3", "--save-every", "1");
        more.add("--resume");
        CliTest.Run r = CliTest.run(more.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertFalse((r.out() + r.err()).contains("interrupted"), "a complete set-up was taken for an interrupted one: "
                + r.err());
        assertEquals(compiled, Files.getLastModifiedTime(manifest), "the resumed run compiled its graphs again");
    }

    @Test
    void anOptimumSetUpKilledWhileWritingTheFolderIsRedoneOnResume() throws IOException {
        Path run = tmp.resolve("runOKilled");
        ok(CliTest.run(train(Fixtures.optimum(), run, "--steps", "2", "--save-every", "1").toArray(String[]::new)));
        // as a kill between compiling and renaming the written folder into place leaves it
        org.onnxlora.io.FileTrees.delete(run.resolve("model"));
        Path partial = Files.createDirectories(run.resolve("model.partial"));
        Files.writeString(partial.resolve("encoder_model.onnx"), "half written");
        List<String> more = train(Fixtures.optimum(), run, "--steps", "3", "--save-every", "1");
        more.add("--resume");
        CliTest.Run r = CliTest.run(more.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        for (String file : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            assertTrue(Files.size(run.resolve("model").resolve(file)) > 1000, file);
        }
        assertFalse(Files.exists(partial), "the half-written folder is left behind");
    }

    static void ok2(CliTest.Run r) {
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void generateRefusesATokenizerLargerThanTheModel() {
        // a synthetic model with a 1000-row embedding cannot take the fixture's 2048-token vocabulary
        Path small = tmp.resolve("small-vocab.onnx");
        assertEquals(0, CliTest.run("synth", "--preset", "tiny", "--vocab", "1000", "--out", small.toString(), "-q").code());
        Path preds = tmp.resolve("small.preds.jsonl");
        CliTest.assertOneLineError(CliTest.run("generate", "--model", small.toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--input", validData.toString(), "--out", preds.toString(), "-q"), 2,
                "2048", "1000");
        assertFalse(Files.exists(preds), "nothing may be written");
    }

    @Test
    void optimumFolderMissingAFileIsNamed() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("half-optimum"));
        Files.copy(Fixtures.optimum().resolve("encoder_model.onnx"), dir.resolve("encoder_model.onnx"));
        Path out = tmp.resolve("runHalf");
        CliTest.assertOneLineError(CliTest.run(train(dir, out).toArray(String[]::new)), 3, "decoder_model.onnx");
        assertFalse(Files.exists(out), "nothing may be written");
    }
}
