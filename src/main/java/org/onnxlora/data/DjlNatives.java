package org.onnxlora.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Settles, once per JVM and before DJL's tokenizer classes initialise, the system properties
 * that decide how DJL finds its native library. Without them DJL would:
 * <ul>
 * <li>probe the EC2 metadata endpoint and send telemetry on every new tokenizer (1-second
 * connect timeouts each, so a slow start on machines without network);</li>
 * <li>on a host with CUDA, ask for a CUDA build of the library and download it from
 * publish.djl.ai, although the CPU build is inside the jar;</li>
 * <li>extract the library to {@code ~/.djl.ai/tokenizers}, and fail if that directory
 * exists but is not writable (read-only home, directory created by another user).</li>
 * </ul>
 * A property or environment variable the user already set always wins.
 */
final class DjlNatives {
    static final String OFFLINE = "ai.djl.offline";
    static final String TRACKING = "OPT_OUT_TRACKING";
    static final String ENGINE_CACHE = "ENGINE_CACHE_DIR";

    private static boolean prepared;

    private DjlNatives() {}

    static synchronized void prepare() {
        if (prepared) {
            return;
        }
        prepared = true;
        if (System.getenv("DJL_OFFLINE") == null) {
            // Offline mode forces the CPU build bundled in the jar and skips telemetry.
            System.setProperty(OFFLINE, System.getProperty(OFFLINE, "true"));
        }
        if (isUnset(TRACKING)) {
            System.setProperty(TRACKING, "true");
        }
        // DJL is the only slf4j user here; without a provider slf4j prints a warning to stderr,
        // and library code must not print. Users who add a provider still get DJL's logs.
        if (System.getProperty("slf4j.internal.verbosity") == null) {
            System.setProperty("slf4j.internal.verbosity", "ERROR");
        }
        if (isUnset(ENGINE_CACHE) && isUnset("DJL_CACHE_DIR") && isUnset("RUST_LIBRARY_PATH")) {
            System.setProperty(ENGINE_CACHE, cacheDir().toString());
        }
    }

    /** Where the native library is (or will be) extracted, for error messages. */
    static String location() {
        String override = get("RUST_LIBRARY_PATH");
        if (override != null) {
            return override;
        }
        String engine = get(ENGINE_CACHE);
        if (engine != null) {
            return Path.of(engine, "tokenizers").toString();
        }
        String djl = get("DJL_CACHE_DIR");
        return Path.of(djl != null ? djl : System.getProperty("user.home") + "/.djl.ai", "tokenizers").toString();
    }

    /** DJL's usual {@code ~/.djl.ai} when it is writable (shared with other DJL programs), else a per-user temp dir. */
    static Path cacheDir() {
        Path home = Path.of(System.getProperty("user.home", "."), ".djl.ai");
        if (writable(home)) {
            return home;
        }
        String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
        return Path.of(System.getProperty("java.io.tmpdir"), "onnx-lora-" + user.toLowerCase(Locale.ROOT), "djl");
    }

    /** Creates the directory if needed and proves a file can be written in it. */
    static boolean writable(Path dir) {
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".probe", ".tmp");
            Files.delete(probe);
            return true;
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static boolean isUnset(String key) {
        return get(key) == null;
    }

    /** Same lookup order as DJL's {@code Utils.getEnvOrSystemProperty}: environment first. */
    private static String get(String key) {
        String v = System.getenv(key);
        if (v == null || v.isEmpty()) {
            v = System.getProperty(key);
        }
        return v == null || v.isEmpty() ? null : v;
    }
}
