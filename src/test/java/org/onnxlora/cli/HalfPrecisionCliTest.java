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
import org.onnxlora.run.LossScaleState;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.train.LossScaler;

/**
 * --precision as a user meets it: bf16 on CPU is one line before any work (no run folder), an
 * fp16 run records its loss scale and skipped steps in metrics.jsonl, the summary and every
 * checkpoint, and resumes with the scale it had.
 */
class HalfPrecisionCliTest {
    @TempDir
    static Path tmp;
    static Path trainData;
    static Path validData;

    @BeforeAll
    static void data() throws IOException {
        trainData = Fixtures.manPageRows(tmp.resolve("train.jsonl"), "train", 24);
        validData = Fixtures.manPageRows(tmp.resolve("valid.jsonl"), "valid", 8);
    }

    static List<String> train(Path out, String precision, int steps, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", Fixtures.torchscript().toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--train", trainData.toString(), "--valid", validData.toString(),
                "--out", out.toString(), "--batch-size", "8", "--lr", "1e-2", "--steps", Integer.toString(steps),
                "--threads", "2", "--max-source-length", "48", "--max-target-length", "12", "--save-every", "2",
                "--precision", precision, "-q"));
        a.addAll(List.of(extra));
        return a;
    }

    @Test
    void bf16OnCpuIsOneLineBeforeAnyWork() {
        Path out = tmp.resolve("bf16");
        CliTest.Run r = CliTest.run(train(out, "bf16", 2).toArray(String[]::new));
        CliTest.assertOneLineError(r, 2, "bf16", "CUDA", "CPU");
        assertFalse(Files.exists(out), "nothing may be written");
        CliTest.assertOneLineError(CliTest.run("bench-train", "--model", Fixtures.torchscript().toString(),
                "--precision", "bf16", "--steps", "1"), 2, "bf16", "CPU");
        CliTest.assertOneLineError(CliTest.run(train(out, "fp8", 2).toArray(String[]::new)), 2, "fp8", "fp16");
        CliTest.assertOneLineError(CliTest.run(train(out, "fp16", 2, "--tf32").toArray(String[]::new)), 2, "--tf32");
    }

    @Test
    void fp16RunRecordsLossScaleAndSkippedStepsAndResumesWithThem() throws IOException {
        Path out = tmp.resolve("fp16");
        CliTest.Run r = CliTest.run(train(out, "fp16", 2).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonObject s = JsonParser.parseString(r.out()).getAsJsonObject();
        assertTrue(s.has("loss_scale") && s.has("skipped_steps"), s.toString());
        List<JsonObject> steps = trainEntries(out);
        assertEquals(2, steps.size());
        for (JsonObject e : steps) {
            assertTrue(e.get("loss_scale").getAsDouble() > 0 && e.has("skipped_steps") && e.has("skipped"), e.toString());
        }
        Path ck = out.resolve("checkpoints/step-00000002");
        LossScaleState saved = LossScaleState.read(ck).orElseThrow();
        assertEquals(s.get("loss_scale").getAsDouble(), saved.scale());
        assertEquals(s.get("skipped_steps").getAsLong(), saved.skippedSteps());

        // a resumed run continues from the saved scale, not from the initial one
        new LossScaleState(512, 7, saved.skippedSteps()).write(ck);
        CliTest.Run resumed = CliTest.run(train(out, "fp16", 3, "--resume").toArray(String[]::new));
        assertEquals(0, resumed.code(), resumed.err());
        JsonObject third = trainEntries(out).get(2);
        assertEquals(3, third.get("step").getAsLong());
        double scale = third.get("loss_scale").getAsDouble();
        assertTrue(scale == 512 || scale == 256, "resumed at the saved scale: " + third);
        // kept: 7 good steps + this one; skipped: backed off, the count starts again
        assertEquals(scale == 512 ? 8 : 0, LossScaleState.read(out.resolve("checkpoints/step-00000003")).orElseThrow()
                .goodSteps(), "good steps carried over: " + third);

        // the precision is part of the run's settings
        CliTest.assertOneLineError(CliTest.run(train(out, "fp32", 4, "--resume").toArray(String[]::new)), 2,
                "--precision");
    }

    static List<JsonObject> trainEntries(Path run) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonObject o = JsonParser.parseString(line).getAsJsonObject();
            if (o.get("event").getAsString().equals("train")) {
                out.add(o);
            }
        }
        return out;
    }
}
