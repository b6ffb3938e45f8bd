package org.onnxlora.train;

import com.google.gson.Gson;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.Json;
import org.onnxlora.io.IoErrors;

/**
 * {@code RUN/metrics.jsonl}: one JSON object per event ({@code "event": "train"} per
 * step, {@code "eval"} per validation), flushed as written so a killed run keeps its
 * history. On resume, entries after the checkpoint's step are dropped: they describe
 * steps that will be redone. Listeners (TensorBoard's event files) get every entry
 * after it is in the file.
 */
public final class MetricsLog implements AutoCloseable {
    private static final Gson GSON = Json.builder().serializeNulls().create();
    private final BufferedWriter out;
    private final List<Listener> listeners = new ArrayList<>();

    private MetricsLog(BufferedWriter out) {
        this.out = out;
    }

    public static MetricsLog open(Path file, long resumedStep) {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            if (Files.exists(file)) {
                List<String> keep = new ArrayList<>();
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    if (line.isBlank()) {
                        continue;
                    }
                    try {
                        JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                        if (o.has("step") && o.get("step").getAsLong() <= resumedStep) {
                            keep.add(line);
                        }
                    } catch (RuntimeException e) {
                        // a line torn by a kill: drop it
                    }
                }
                AtomicFiles.writeString(file, keep.isEmpty() ? "" : String.join("\n", keep) + "\n");
            }
            return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND));
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** Appends one entry; a non-finite number is written as null (JSON has no NaN, and readers choke on it). */
    public void write(Map<String, Object> entry) {
        Map<String, Object> clean = new java.util.LinkedHashMap<>(entry);
        clean.replaceAll((k, v) -> v instanceof Double d && !Double.isFinite(d) ? null : v);
        try {
            out.write(GSON.toJson(clean));
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot append to metrics.jsonl: " + IoErrors.reason(e), e);
        }
        for (Listener l : listeners) {
            l.entry(entry);
        }
    }

    /** Adds a listener, closed with this log. */
    public void attach(Listener l) {
        listeners.add(l);
    }

    @Override
    public void close() {
        listeners.forEach(Listener::close);
        try {
            out.close();
        } catch (IOException ignored) {
            // nothing left to save
        }
    }

    /** Another record of the metrics, kept in step with metrics.jsonl. */
    public interface Listener extends AutoCloseable {
        void entry(Map<String, Object> entry);

        @Override
        void close();
    }
}
