package org.onnxlora.report;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;
import org.onnxlora.run.RunDescription;
import org.onnxlora.run.RunDirectory;

/**
 * Reads a run folder for a report. Only a folder that is not a run at all is an error:
 * a run killed early (empty metrics.jsonl, a last line cut mid-JSON, no summary.json)
 * is shown with what it has, and each gap becomes a notice.
 */
public final class RunLoader {
    public static final String METRICS = RunDirectory.METRICS;
    public static final String SUMMARY = RunDirectory.SUMMARY;
    public static final String EVAL_DIR = RunDirectory.EVALS;

    private RunLoader() {}

    /** Loads each run, named by its folder (with the parent folder where two names collide). */
    public static List<RunData> loadAll(List<Path> dirs) {
        List<String> names = dirs.stream().map(d -> d.toAbsolutePath().normalize().getFileName().toString()).toList();
        List<RunData> out = new ArrayList<>();
        for (int i = 0; i < dirs.size(); i++) {
            Path abs = dirs.get(i).toAbsolutePath().normalize();
            String n = names.get(i);
            if (java.util.Collections.frequency(names, n) > 1 && abs.getParent() != null
                    && abs.getParent().getFileName() != null) {
                n = abs.getParent().getFileName() + "/" + n;
            }
            out.add(load(dirs.get(i), n));
        }
        return out;
    }

    public static RunData load(Path dir, String name) {
        if (!RunDescription.isRun(dir)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, dir + " is not a run folder (no "
                    + RunDescription.INFO + " or " + METRICS + "; a training run writes one)");
        }
        List<String> notices = new ArrayList<>();
        Map<String, String> settings;
        try {
            settings = RunDescription.settings(dir);
        } catch (OnnxLoraException damaged) {
            settings = Map.of();
            notices.add("settings not shown: " + damaged.getMessage());
        }
        if (!Files.exists(dir.resolve(RunDescription.INFO))) {
            notices.add("no " + RunDescription.INFO + ": the run's settings are not recorded");
        }
        Map<Metric, List<RunData.Point>> curves = readMetrics(dir.resolve(METRICS), notices);
        Map<String, String> summary = readSummary(dir.resolve(SUMMARY), notices);
        return new RunData(name, dir, settings, curves, summary, readEvals(dir.resolve(EVAL_DIR), notices), notices);
    }

    static Map<Metric, List<RunData.Point>> readMetrics(Path file, List<String> notices) {
        Map<Metric, TreeMap<Long, Double>> byStep = new EnumMap<>(Metric.class);
        for (Metric m : Metric.values()) {
            byStep.put(m, new TreeMap<>());
        }
        List<String> lines;
        try {
            lines = Files.exists(file) ? Files.readAllLines(file, StandardCharsets.UTF_8) : null;
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
        if (lines == null) {
            notices.add("no " + METRICS + ": no step was logged");
        } else if (lines.stream().allMatch(String::isBlank)) {
            notices.add(METRICS + " is empty: no step was logged yet");
        } else {
            int last = lines.size() - 1;
            while (last > 0 && lines.get(last).isBlank()) {
                last--;
            }
            for (int i = 0; i <= last; i++) {
                String line = lines.get(i);
                if (line.isBlank()) {
                    continue;
                }
                JsonObject o;
                try {
                    JsonElement e = JsonParser.parseString(line);
                    o = e.isJsonObject() ? e.getAsJsonObject() : null;
                } catch (RuntimeException bad) {
                    o = null;
                }
                if (o == null || !o.has("step") || !o.has("event")) {
                    notices.add(i == last
                            ? METRICS + " line " + (i + 1) + " is cut off (the run was stopped while writing it): it is"
                                    + " not shown"
                            : METRICS + " line " + (i + 1) + " is not a metrics entry: it is not shown");
                    continue;
                }
                for (Metric m : Metric.values()) {
                    JsonElement v = o.get(m.key());
                    if (o.get("event").getAsString().equals(m.event()) && v != null && v.isJsonPrimitive()
                            && v.getAsJsonPrimitive().isNumber()) {
                        // a step logged twice (a run restarted at step 0) shows its latest value
                        byStep.get(m).put(o.get("step").getAsLong(), v.getAsDouble());
                    }
                }
            }
            if (byStep.get(Metric.TRAIN_LOSS).isEmpty()) {
                notices.add(METRICS + " has no training step yet");
            }
        }
        Map<Metric, List<RunData.Point>> out = new EnumMap<>(Metric.class);
        byStep.forEach((m, steps) -> out.put(m, steps.entrySet().stream()
                .map(e -> new RunData.Point(e.getKey(), e.getValue())).toList()));
        return out;
    }

    private static Map<String, String> readSummary(Path file, List<String> notices) {
        if (!Files.exists(file)) {
            notices.add("no " + SUMMARY + ": the run has not finished (or was stopped)");
            return Map.of();
        }
        JsonObject o = readObject(file, notices);
        return o == null ? Map.of() : flat(o);
    }

    private static List<RunData.EvalResult> readEvals(Path dir, List<String> notices) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + dir + ": " + IoErrors.reason(e), e);
        }
        List<RunData.EvalResult> out = new ArrayList<>();
        for (Path f : files) {
            JsonObject o = readObject(f, notices);
            if (o != null) {
                String n = f.getFileName().toString();
                out.add(new RunData.EvalResult(n.substring(0, n.length() - ".json".length()), flat(o)));
            }
        }
        return out;
    }

    private static JsonObject readObject(Path file, List<String> notices) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8));
            if (e.isJsonObject()) {
                return e.getAsJsonObject();
            }
        } catch (IOException | RuntimeException e) {
            // reported below
        }
        notices.add(file.getFileName() + " is damaged (not a JSON object): it is not shown");
        return null;
    }

    private static Map<String, String> flat(JsonObject o) {
        Map<String, String> m = new LinkedHashMap<>();
        o.entrySet().forEach(e -> m.put(e.getKey(), e.getValue().isJsonNull() ? ""
                : e.getValue().isJsonPrimitive() ? e.getValue().getAsString() : e.getValue().toString()));
        return m;
    }
}
