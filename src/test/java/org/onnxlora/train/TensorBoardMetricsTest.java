package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.proto.TensorBoard.Event;
import org.onnxlora.proto.TensorBoard.Summary;
import org.onnxlora.tensorboard.EventFileReader;

/** A run killed mid-write and resumed from a checkpoint: TensorBoard's steps stay those of metrics.jsonl. */
class TensorBoardMetricsTest {
    @TempDir
    Path run;

    private void log(long from, long to, long resumedAt, double offset) {
        try (MetricsLog log = MetricsLog.open(run.resolve("metrics.jsonl"), resumedAt)) {
            log.attach(TensorBoardMetrics.open(run, resumedAt));
            for (long s = from; s <= to; s++) {
                Map<String, Object> e = new LinkedHashMap<>();
                e.put("event", "train");
                e.put("step", s);
                e.put("loss", offset + s);
                e.put("lr", 1e-3 / s);
                e.put("tokens", 100L);
                log.write(e);
                if (s % 3 == 0) {
                    log.write(new LinkedHashMap<>(Map.of("event", "eval", "step", s, "valid_loss", offset - s)));
                }
            }
        }
    }

    @Test
    void resumedRunAppendsAFileAndKeepsStepsConsistent() throws Exception {
        Files.writeString(run.resolve("run.json"), "{\"fingerprint\": \"x\", \"lr\": 0.001, \"steps\": 8}\n");
        log(1, 6, 0, 10);
        // killed while writing step 7: a torn JSON line and a torn event record
        Files.writeString(run.resolve("metrics.jsonl"), "{\"event\":\"train\",\"st", StandardOpenOption.APPEND);
        Path first = EventFileReader.files(run.resolve("tb")).get(0);
        Files.write(first, new byte[] {9, 0, 0, 0, 0}, StandardOpenOption.APPEND);
        log(5, 8, 4, 20); // resumed from the checkpoint at step 4

        assertEquals(2, EventFileReader.files(run.resolve("tb")).size());
        Map<String, Float> want = new TreeMap<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            JsonObject o = JsonParser.parseString(l).getAsJsonObject();
            o.entrySet().stream().filter(x -> !x.getKey().equals("step") && x.getValue().getAsJsonPrimitive().isNumber())
                    .forEach(x -> want.put(o.get("event").getAsString() + "/" + x.getKey() + "@" + o.get("step"),
                            x.getValue().getAsFloat()));
        }
        Map<String, Float> got = new TreeMap<>();
        List<String> configs = new java.util.ArrayList<>();
        for (Path f : EventFileReader.files(run.resolve("tb"))) {
            EventFileReader.Contents c = EventFileReader.read(f);
            assertTrue(!c.tornTail(), f + " keeps a torn tail");
            for (Event e : c.events()) {
                for (Summary.Value v : e.getSummary().getValueList()) {
                    if (v.hasTensor()) {
                        configs.add(e.getStep() + ":" + v.getTensor().getStringVal(0).toStringUtf8());
                    } else {
                        assertEquals(null, got.put(v.getTag() + "@" + e.getStep(), v.getSimpleValue()), v.getTag());
                    }
                }
            }
        }
        assertEquals(want, got);
        assertEquals(25f, got.get("train/loss@5"), "step 5 is the resumed run's");
        assertEquals(14f, got.get("train/loss@4"));
        assertEquals(2, configs.size());
        assertTrue(configs.get(0).startsWith("0:| setting | value |") && configs.get(0).contains("| lr | 0.001 |")
                && !configs.get(0).contains("fingerprint"), configs.get(0));
        assertTrue(configs.get(1).startsWith("4:"), configs.get(1));
    }
}
