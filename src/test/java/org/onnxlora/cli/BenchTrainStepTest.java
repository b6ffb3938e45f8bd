package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.Fixtures;

/**
 * bench-train times the step train runs for one batch per step (the fused graph, one session) and, with
 * --separate-step, the training and optimizer sessions to compare: the profile files name the sessions.
 */
class BenchTrainStepTest {
    @TempDir
    Path tmp;

    private List<String> profiled(String tag, String... extra) {
        Path prefix = tmp.resolve(tag);
        List<String> args = new java.util.ArrayList<>(List.of("bench-train", "--model", Fixtures.torchscript().toString(),
                "--batch", "2", "--source-length", "16", "--target-length", "8", "--steps", "1", "--warmup", "0",
                "--threads", "2", "--profile", prefix.toString()));
        args.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(extra.length == 0 ? "fused" : "separate", o.get("step_graphs").getAsString());
        return o.getAsJsonArray("profiles").asList().stream().map(p -> Path.of(p.getAsString()).getFileName().toString())
                .map(n -> n.substring(tag.length() + 1, n.indexOf('_', tag.length() + 1))).toList();
    }

    @Test
    void theDefaultStepIsOneSession() {
        assertEquals(List.of("step"), profiled("fused"));
    }

    @Test
    void staticShapesFixTheGraphsDimsAtTheBenchmarksShape() {
        CliTest.Run r = CliTest.run("bench-train", "--model", Fixtures.torchscript().toString(), "--batch", "2",
                "--source-length", "16", "--target-length", "8", "--steps", "2", "--warmup", "0", "--threads", "2",
                "--static-shapes");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(JsonParser.parseString("{\"dim.batch_size\": \"2\", \"dim.decoder_sequence_length\": \"8\","
                + " \"dim.encoder_sequence_length\": \"16\"}"), o.get("fixed_dims"));
    }

    @Test
    void staticShapesTakeTheSizesAStaticExportFixes() {
        // the export fixes 2 × 64 + 16 tokens; batches are fed in those sizes, so the dims are fixed at them
        CliTest.Run r = CliTest.run("bench-train", "--model", Path.of("models", "exports", "bart-eager-ts-3in-static.onnx")
                .toString(), "--batch", "2", "--source-length", "16", "--target-length", "8", "--steps", "1", "--warmup",
                "0", "--threads", "2", "--static-shapes");
        assertEquals(0, r.code(), r.err());
        assertEquals(JsonParser.parseString("{\"dim.batch_size\": \"2\", \"dim.decoder_sequence_length\": \"16\"}"),
                JsonParser.parseString(r.out()).getAsJsonObject().get("fixed_dims"));
    }

    @Test
    void separateStepRunsTheTrainingAndOptimizerSessions() {
        assertEquals(List.of("training", "optimizer"), profiled("sep", "--separate-step"));
    }
}
