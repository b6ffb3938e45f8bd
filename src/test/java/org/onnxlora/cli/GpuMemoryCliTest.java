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

/**
 * --gpu-memory, --cuda-option and --recompute on train and bench-train: settings that do nothing on the CPU are
 * refused in one line before any work; the others train, are recorded in run.json, and a resume must give them
 * again (the refusal names the flag).
 */
class GpuMemoryCliTest {
    @TempDir
    static Path tmp;
    static Path trainData;

    @BeforeAll
    static void data() throws IOException {
        trainData = Fixtures.manPageRows(tmp.resolve("train.jsonl"), "train", 16);
    }

    static List<String> train(Path out, String... extra) {
        return train(out, 2, extra);
    }

    static List<String> train(Path out, int steps, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", Fixtures.torchscript().toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--train", trainData.toString(), "--out", out.toString(),
                "--batch-size", "8", "--steps", Integer.toString(steps), "--threads", "2", "--max-source-length", "48",
                "--max-target-length", "12", "--save-every", "1", "-q"));
        a.addAll(List.of(extra));
        return a;
    }

    @Test
    void cudaOnlySettingsAreOneLineOnTheCpuBeforeAnyWork() {
        Path out = tmp.resolve("refused");
        CliTest.assertOneLineError(CliTest.run(train(out, "--gpu-memory", "lean").toArray(String[]::new)), 2,
                "'lean'", "CUDA", "cpu", "(--gpu-memory)");
        CliTest.assertOneLineError(CliTest.run(train(out, "--cuda-option", "arena_extend_strategy=kSameAsRequested")
                .toArray(String[]::new)), 2, "arena_extend_strategy", "CUDA provider option", "(--cuda-option)");
        CliTest.assertOneLineError(CliTest.run(train(out, "--cuda-graph").toArray(String[]::new)), 2,
                "CUDA graphs (--cuda-graph", "need a CUDA device", "(--cuda-option)");
        assertFalse(Files.exists(out), "nothing may be written");
        CliTest.assertOneLineError(CliTest.run(train(out, "--gpu-memory", "tight").toArray(String[]::new)), 2,
                "auto, fast or lean", "tight");
        CliTest.assertOneLineError(CliTest.run(train(out, "--recompute", "everything").toArray(String[]::new)), 2,
                "none or attention", "(--recompute)");
        CliTest.assertOneLineError(CliTest.run("bench-train", "--model", Fixtures.torchscript().toString(),
                "--gpu-memory", "lean", "--steps", "1"), 2, "'lean'", "(--gpu-memory)");
        CliTest.assertOneLineError(CliTest.run("bench-train", "--model", Fixtures.torchscript().toString(),
                "--cuda-graph", "--steps", "1"), 2, "--cuda-graph needs --device cuda");
    }

    @Test
    void sessionSettingsAndRecomputationTrainOnTheCpuAndAreRecorded() throws IOException {
        Path out = tmp.resolve("recorded");
        String[] given = {"--cuda-option", "enable_mem_pattern=0", "--recompute", "attention"};
        CliTest.Run r = CliTest.run(train(out, given).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        JsonObject values = JsonParser.parseString(Files.readString(out.resolve("run.json"))).getAsJsonObject()
                .getAsJsonObject("settings").getAsJsonObject("values");
        assertEquals("enable_mem_pattern=0", values.get("--cuda-option").getAsString());
        assertEquals("attention", values.get("--recompute").getAsString());
        assertFalse(values.has("--gpu-memory"), "the default is not recorded, so older runs resume");

        CliTest.Run resumed = CliTest.run(train(out, 3, "--resume", "--recompute", "attention")
                .toArray(String[]::new));
        CliTest.assertOneLineError(resumed, 2, "--cuda-option was enable_mem_pattern=0, now not set");
        List<String> again = train(out, 3, given);
        again.add("--resume");
        CliTest.Run ok = CliTest.run(again.toArray(String[]::new));
        assertEquals(0, ok.code(), ok.err());
        assertTrue(JsonParser.parseString(ok.out()).getAsJsonObject().has("steps"), ok.out());
    }

    @Test
    void benchTrainReportsTheSettings() {
        CliTest.Run r = CliTest.run("bench-train", "--model", Fixtures.torchscript().toString(), "--batch", "2",
                "--source-length", "16", "--target-length", "8", "--warmup", "0", "--steps", "1", "--threads", "2",
                "--recompute", "attention", "--cuda-option", "enable_mem_pattern=0", "-q");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals("attention", o.get("recompute").getAsString());
    }
}
