package org.onnxlora.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Memory of this process as the kernel counts it (Linux); -1 elsewhere. */
public final class ProcessStats {
    private ProcessStats() {}

    /** Peak resident set size in bytes (VmHWM): heap, native allocations and touched file mappings. */
    public static long peakRssBytes() {
        return status("VmHWM:");
    }

    public static long rssBytes() {
        return status("VmRSS:");
    }

    /** Resident anonymous memory: Java heap, ONNX Runtime's allocations, everything not backed by a file. */
    public static long rssAnonBytes() {
        return status("RssAnon:");
    }

    /** Resident file-backed memory: touched pages of memory-mapped models and weights. */
    public static long rssFileBytes() {
        return status("RssFile:");
    }

    private static long status(String key) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(key)) {
                    return Long.parseLong(line.substring(key.length()).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
