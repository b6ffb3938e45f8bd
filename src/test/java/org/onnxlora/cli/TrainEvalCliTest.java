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
import org.onnxlora.testing.Fixtures;

/** train → eval → merge → eval/generate through the CLI, and what bad data gets back. */
class TrainEvalCliTest {
    @TempDir
    static Path tmp;
    static Path run;
    static JsonObject summary;

    static List<String> train(Path out, Path trainFile, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", Fixtures.torchscript().toString(),
                "--tokenizer", Fixtures.tokenizer().toString(), "--train", trainFile.toString(),
                "--out", out.toString(), "--batch-size", "16", "--lr", "3e-3", "--warmup", "10", "--threads", "2",
                "--target", "q_proj,k_proj,v_proj,out_proj", "-q"));
        a.addAll(List.of(extra));
        return a;
    }

    @BeforeAll
    static void trainOnce() throws IOException {
        run = tmp.resolve("run");
        CliTest.Run r = CliTest.run(train(run, Path.of("models/datasets/manpages/train.jsonl"), "--steps", "60",
                "--valid", "models/datasets/manpages/valid.jsonl", "--eval-every", "30").toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        summary = JsonParser.parseString(r.out()).getAsJsonObject();
    }

    @Test
    void validationLossDropsClearly() throws IOException {
        double before = summary.get("initial_valid_loss").getAsDouble();
        double after = summary.get("valid_loss").getAsDouble();
        assertTrue(after < before - 2.0, "validation loss " + before + " -> " + after);
        List<String> lines = Files.readAllLines(run.resolve("metrics.jsonl"));
        assertEquals(60, lines.stream().filter(l -> l.contains("\"event\":\"train\"")).count());
        assertEquals(3, lines.stream().filter(l -> l.contains("\"event\":\"eval\"")).count());
        JsonObject first = JsonParser.parseString(lines.get(1)).getAsJsonObject();
        for (String k : List.of("loss", "lr", "grad_norm", "tokens_per_second")) {
            assertTrue(first.has(k), k + " missing in " + first);
        }
    }

    /** What a benchmark needs to set a real-data step against a fixed-shape one: its time and padded shape. */
    @Test
    void everyStepRecordsItsTimeAndPaddedShape() throws IOException {
        int steps = 0;
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonObject e = JsonParser.parseString(line).getAsJsonObject();
            if (!e.get("event").getAsString().equals("train")) {
                continue;
            }
            steps++;
            double seconds = e.get("step_seconds").getAsDouble();
            assertTrue(seconds > 0, line);
            assertEquals(e.get("tokens").getAsDouble() / seconds, e.get("tokens_per_second").getAsDouble(),
                    1e-6 * e.get("tokens_per_second").getAsDouble(), line);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)x(\\d+)\\+(\\d+)")
                    .matcher(e.get("padded_shape").getAsString());
            assertTrue(m.matches(), line);
            long rows = Long.parseLong(m.group(1));
            long padded = rows * (Long.parseLong(m.group(2)) + Long.parseLong(m.group(3)));
            assertTrue(rows >= 1 && rows <= 16, line);
            assertEquals(padded, e.get("padded_tokens").getAsLong(), line);
            assertTrue(e.get("tokens").getAsLong() <= padded, line);
        }
        assertEquals(60, steps);
    }

    @Test
    void mergedModelReproducesThePatchedLoss() {
        Path merged = tmp.resolve("merged.onnx");
        assertEquals(0, CliTest.run("merge", "--model", run.resolve("model.onnx").toString(), "--adapter", run.toString(),
                "--out", merged.toString()).code());
        String[] common = {"--tokenizer", Fixtures.tokenizer().toString(), "--data",
                "models/datasets/manpages/valid.jsonl", "--threads", "2", "-q"};
        List<String> a = new ArrayList<>(List.of("eval", "--model", run.resolve("model.onnx").toString(), "--adapter",
                run.toString(), "--no-generate"));
        a.addAll(List.of(common));
        List<String> b = new ArrayList<>(List.of("eval", "--model", merged.toString(), "--max-new-tokens", "16"));
        b.addAll(List.of(common));
        CliTest.Run ra = CliTest.run(a.toArray(String[]::new));
        CliTest.Run rb = CliTest.run(b.toArray(String[]::new));
        assertEquals(0, ra.code(), ra.err());
        assertEquals(0, rb.code(), rb.err());
        JsonObject ja = JsonParser.parseString(ra.out()).getAsJsonObject();
        JsonObject jb = JsonParser.parseString(rb.out()).getAsJsonObject();
        assertEquals(ja.get("loss").getAsDouble(), jb.get("loss").getAsDouble(), 1e-4);
        assertEquals(summary.get("valid_loss").getAsDouble(), ja.get("loss").getAsDouble(), 1e-4,
                "eval and the training run's own validation agree");
        assertTrue(jb.get("rouge1").getAsDouble() > 0 && jb.get("rougeL").getAsDouble() > 0, rb.out());
    }

    @Test
    void generateWritesOnePredictionPerRow() throws IOException {
        Path in = tmp.resolve("in.jsonl");
        Files.writeString(in, "{\"source\": \"List information about the FILEs.\"}\n{\"source\": \"Copy files.\"}\n");
        Path out = tmp.resolve("preds.jsonl");
        CliTest.Run r = CliTest.run("generate", "--model", run.resolve("model.onnx").toString(), "--adapter",
                run.toString(), "--tokenizer", Fixtures.tokenizer().toString(), "--input", in.toString(), "--out",
                out.toString(), "--num-beams", "2", "-q");
        assertEquals(0, r.code(), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(2, lines.size());
        assertFalse(JsonParser.parseString(lines.get(0)).getAsJsonObject().get("prediction").getAsString().isEmpty());
    }

    @Test
    void badDataIsReportedWithItsLine() throws IOException {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"source\": \"a b c\", \"target\": \"x\"}\n{\"source\": \"d e\"\n"
                + "{\"source\": \"f\", \"target\": \"y\"}\n");
        CliTest.Run r = CliTest.run(train(tmp.resolve("r1"), bad, "--steps", "2").toArray(String[]::new));
        CliTest.assertOneLineError(r, 11, "bad.jsonl:2");
        assertEquals(0, CliTest.run(train(tmp.resolve("r2"), bad, "--steps", "2", "--skip-bad-rows")
                .toArray(String[]::new)).code());

        Path empty = tmp.resolve("empty.jsonl");
        Files.writeString(empty, "");
        CliTest.assertOneLineError(CliTest.run(train(tmp.resolve("r3"), empty, "--steps", "2").toArray(String[]::new)),
                11, "empty.jsonl");
        CliTest.assertOneLineError(CliTest.run(train(tmp.resolve("r4"), Path.of("models/datasets/manpages/valid.jsonl"),
                "--steps", "2", "--source-field", "text").toArray(String[]::new)), 2, "text", "source");
        CliTest.assertOneLineError(CliTest.run(train(tmp.resolve("r5"), Path.of("models/datasets/manpages/valid.jsonl"))
                .toArray(String[]::new)), 2, "--steps", "--epochs");
    }

    @Test
    void cudaWithoutTheGpuBuildSaysSoInOneLine() {
        // the test classpath has the CPU jar: CUDA must be refused before any work, naming the way out
        CliTest.Run r = CliTest.run(train(tmp.resolve("r7"), Path.of("models/datasets/manpages/valid.jsonl"),
                "--steps", "2", "--device", "cuda").toArray(String[]::new));
        CliTest.assertOneLineError(r, 8, "CUDA is not available", "-Pgpu");
        assertFalse(Files.exists(tmp.resolve("r7").resolve("artifacts")), "work started before the device check");
    }

    @Test
    void tokenizerLargerThanTheModelIsRefused() throws IOException {
        // a synthetic model with a 1000-row embedding cannot take the fixture's 2048-token vocabulary
        Path small = tmp.resolve("small.onnx");
        assertEquals(0, CliTest.run("synth", "--preset", "tiny", "--vocab", "1000", "--out", small.toString(), "-q").code());
        List<String> a = new ArrayList<>(train(tmp.resolve("r6"), Path.of("models/datasets/manpages/valid.jsonl"),
                "--steps", "2"));
        a.set(a.indexOf(Fixtures.torchscript().toString()), small.toString());
        CliTest.assertOneLineError(CliTest.run(a.toArray(String[]::new)), 2, "2048", "1000");
    }
}
