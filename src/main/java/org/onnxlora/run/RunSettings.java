package org.onnxlora.run;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ContentHash;
import org.onnxlora.io.ExternalDataFiles;
import org.onnxlora.io.IoErrors;

/**
 * Everything that shapes a run's result, by name: a resumed run must agree on each,
 * and a refusal names the first that differs. Input files count by content (SHA-256),
 * so an edit in place is a change and a move is not. The names are the caller's (the
 * CLI uses its flags); values are compared as the strings they are recorded as.
 *
 * <p>Hashing a large model on every resume would be slow, so each file's hash is
 * recorded with its size and modification time and reused while both are unchanged.
 */
public final class RunSettings {
    /** A file's content hash and the size/time stamp it was computed for. */
    record FileStamp(String path, String stat, String sha256) {}

    private final Map<String, String> values;
    private final Map<String, FileStamp> files;

    private RunSettings(Map<String, String> values, Map<String, FileStamp> files) {
        this.values = Collections.unmodifiableMap(values);
        this.files = Collections.unmodifiableMap(files);
    }

    /** Settings built fresh; {@code previous} (a run's recorded settings, may be null) lends cached hashes. */
    public static Builder builder(RunSettings previous) {
        return new Builder(previous);
    }

    /** Name → recorded value, in the order they were added. */
    public Map<String, String> values() {
        return values;
    }

    /**
     * The first setting (in this object's order) whose value differs from {@code recorded},
     * as "NAME was X, now Y"; empty when the two agree.
     */
    public Optional<String> firstDifference(RunSettings recorded) {
        List<String> names = new ArrayList<>(values.keySet());
        recorded.values.keySet().stream().filter(n -> !values.containsKey(n)).forEach(names::add);
        for (String n : names) {
            String then = recorded.values.get(n);
            String now = values.get(n);
            if (then == null || now == null || !then.equals(now)) {
                if (files.containsKey(n) || recorded.files.containsKey(n)) {
                    if (then == null || then.isEmpty() || now == null || now.isEmpty()) {
                        return Optional.of(n + (then == null || then.isEmpty() ? " was not given when the run started,"
                                + " now it is" : " was given when the run started, now it is not"));
                    }
                    return Optional.of(n + " has other content than when the run started (sha256 "
                            + abbrev(then) + " then, " + abbrev(now) + " now)");
                }
                return Optional.of(n + " was " + shown(then) + ", now " + shown(now));
            }
        }
        return Optional.empty();
    }

    /** A digest of all values: checkpoints carry it to prove which run they belong to. */
    public String fingerprint() {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (Map.Entry<String, String> e : values.entrySet()) {
            md.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            md.update(e.getValue().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    JsonObject toJson() {
        JsonObject o = new JsonObject();
        JsonObject v = new JsonObject();
        values.forEach(v::addProperty);
        JsonObject f = new JsonObject();
        files.forEach((name, s) -> {
            JsonObject e = new JsonObject();
            e.addProperty("path", s.path());
            e.addProperty("stat", s.stat());
            e.addProperty("sha256", s.sha256());
            f.add(name, e);
        });
        o.add("values", v);
        o.add("files", f);
        return o;
    }

    /** Reads {@link #toJson()}'s form; {@code where} names the file in errors. */
    static RunSettings fromJson(JsonElement json, Path where) {
        try {
            JsonObject o = json.getAsJsonObject();
            Map<String, String> values = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("values").entrySet()) {
                values.put(e.getKey(), e.getValue().getAsString());
            }
            Map<String, FileStamp> files = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : o.getAsJsonObject("files").entrySet()) {
                JsonObject s = e.getValue().getAsJsonObject();
                files.put(e.getKey(), new FileStamp(s.get("path").getAsString(), s.get("stat").getAsString(),
                        s.get("sha256").getAsString()));
            }
            return new RunSettings(values, files);
        } catch (RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.IO, where + " is damaged: its settings cannot be read");
        }
    }

    private static String shown(String v) {
        return v == null ? "not set" : v.isEmpty() ? "empty" : v;
    }

    private static String abbrev(String v) {
        return v.startsWith("sha256:") ? v.substring(7, Math.min(v.length(), 19)) + "…" : v;
    }

    /** Adds settings in the order a refusal should name them (the first difference wins). */
    public static final class Builder {
        private final RunSettings previous;
        private final Map<String, String> values = new LinkedHashMap<>();
        private final Map<String, FileStamp> files = new LinkedHashMap<>();

        private Builder(RunSettings previous) {
            this.previous = previous;
        }

        public Builder set(String name, Object value) {
            values.put(name, value == null ? "" : value instanceof double[] d ? java.util.Arrays.toString(d)
                    : value instanceof List<?> l ? String.join(",", l.stream().map(String::valueOf).toList())
                    : String.valueOf(value));
            return this;
        }

        /** A file setting, by content; null means "not given". */
        public Builder file(String name, Path file) {
            return content(name, file, false);
        }

        /** An ONNX model by content, its external data included. */
        public Builder model(String name, Path model) {
            return content(name, model, true);
        }

        private Builder content(String name, Path file, boolean model) {
            if (file == null) {
                values.put(name, "");
                return this;
            }
            String path = file.toAbsolutePath().normalize().toString();
            String stat = stat(file, model);
            FileStamp cached = previous == null ? null : previous.files.get(name);
            String hash = cached != null && cached.path().equals(path) && cached.stat().equals(stat) ? cached.sha256()
                    : model ? ContentHash.ofModel(file) : ContentHash.of(file);
            files.put(name, new FileStamp(path, stat, hash));
            values.put(name, "sha256:" + hash);
            return this;
        }

        public RunSettings build() {
            return new RunSettings(new LinkedHashMap<>(values), new LinkedHashMap<>(files));
        }

        /** The inode change time where the OS has one: unlike the modification time, no tool can set it back. */
        private static Object changeTime(Path p) {
            try {
                return Files.getAttribute(p, "unix:ctime");
            } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
                return "";
            }
        }

        private static String stat(Path file, boolean model) {
            List<Path> parts = new ArrayList<>(List.of(file));
            if (model && Files.isDirectory(file)) {
                parts = ContentHash.folderFiles(file);
            } else if (model) {
                parts.addAll(ExternalDataFiles.of(file));
            }
            StringBuilder sb = new StringBuilder();
            for (Path p : parts) {
                try {
                    BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                    sb.append(sb.length() == 0 ? "" : ";").append(a.size()).append('@')
                            .append(a.lastModifiedTime().toInstant()).append('/').append(changeTime(p))
                            .append('#').append(a.fileKey());
                } catch (IOException e) {
                    throw new OnnxLoraException(ErrorCode.IO, "cannot read " + p + ": " + IoErrors.reason(e), e);
                }
            }
            return sb.toString();
        }
    }
}
