package org.onnxlora.fuzz;

import static org.junit.jupiter.api.Assertions.fail;


import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;
import org.onnxlora.OnnxLoraException;

/**
 * A seeded mutation fuzzer: each try draws an input from a generator (a mutation of a real
 * seed file, or random structure) and runs a target on it. The property is the one issue 10
 * asks of every reader: the target succeeds or throws {@link OnnxLoraException}; any other
 * exception or error (NPE, IAE, IOOBE, OOM, StackOverflow, Gson's) fails the test, with the
 * input saved under {@code target/fuzz-failures/} and the try's seed in the message so it can
 * be replayed alone.
 *
 * <p>CI runs a fixed seed and count. {@code -Dfuzz.scale=N} multiplies every target's tries
 * (the long local run), {@code -Dfuzz.seed=S} picks another seed.
 */
final class Fuzz {
    static final long SEED = Long.getLong("fuzz.seed", 0x5EED_0A11L);
    private static final java.util.regex.Pattern CLASS_NAME =
            java.util.regex.Pattern.compile("\\b(java|javax|com\\.google)\\.[a-z.]+\\.[A-Z]\\w*(Exception|Error)\\b");
    static final double SCALE = Double.parseDouble(System.getProperty("fuzz.scale", "1"));

    /** One input: the bytes to write (or a description of the files written) for the failure report. */
    interface Target {
        /** Runs the code under test on one input drawn from {@code rng}; returns true when it accepted the input. */
        boolean run(SplittableRandom rng, Path work) throws Exception;
    }

    /** Runs {@code tries × scale} inputs; returns "accepted/refused" counts and the time taken, also printed. */
    static Stats run(String name, int tries, Path work, Target target) throws IOException {
        return run(name, tries, work, true, target);
    }

    /** A target that reads no files: no per-try folder is made (creating and deleting it costs more than the try). */
    static Stats runInMemory(String name, int tries, Path work, Target target) throws IOException {
        return run(name, tries, work, false, target);
    }

    private static Stats run(String name, int tries, Path work, boolean files, Target target) throws IOException {
        int n = (int) Math.max(1, Math.round(tries * SCALE));
        int accepted = 0;
        java.util.Map<String, String> failures = new java.util.LinkedHashMap<>();
        long t0 = System.nanoTime();
        java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
        long c0 = cpu.getCurrentThreadCpuTime();
        SplittableRandom root = new SplittableRandom(SEED ^ name.hashCode());
        for (int i = 0; i < n; i++) {
            long trySeed = root.nextLong();
            Path dir = files ? Files.createDirectories(work.resolve(name + "-" + i)) : work;
            try {
                if (target.run(new SplittableRandom(trySeed), dir)) {
                    accepted++;
                }
            } catch (OnnxLoraException e) {
                String m = String.valueOf(e.getMessage());
                // Newlines and URLs may come from the damaged file's own text; stack frames, exception
                // class names and Gson's troubleshooting links never should.
                if (m.contains("\tat ") || m.contains("google/gson") || m.contains("Troubleshooting.md")
                        || CLASS_NAME.matcher(m).find()) {
                    record(failures, name, i, trySeed, dir, new AssertionError("message is not one clean line: " + m, e));
                }
            } catch (Throwable e) {
                record(failures, name, i, trySeed, dir, e);
            }
            if (files) {
                FileTreesForTests.delete(dir);
            }
        }
        Stats s = new Stats(name, n, accepted, (System.nanoTime() - t0) / 1e9, (cpu.getCurrentThreadCpuTime() - c0) / 1e9);
        System.out.println(s);
        if (!failures.isEmpty()) {
            fail(name + ": " + failures.size() + " distinct non-domain failures\n" + String.join("\n", failures.values()));
        }
        return s;
    }

    /** @param cpuSeconds CPU time of the fuzzing thread: the figure that does not depend on what else the machine runs */
    record Stats(String name, int inputs, int accepted, double seconds, double cpuSeconds) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "fuzz %-18s %6d inputs in %6.2f s (%5.2f s CPU): %d accepted, %d refused"
                    + " cleanly", name, inputs, seconds, cpuSeconds, accepted, inputs - accepted);
        }
    }

    /**
     * Keeps the first input of each distinct failure (exception type and the first onnx-lora frame)
     * under {@code target/fuzz-failures/}, so one run lists every bug instead of stopping at the first.
     */
    private static void record(java.util.Map<String, String> failures, String name, int i, long seed, Path dir,
            Throwable e) throws IOException {
        String where = "";
        for (StackTraceElement f : e.getStackTrace()) {
            if (f.getClassName().startsWith("org.onnxlora.") && !f.getClassName().startsWith("org.onnxlora.fuzz.")) {
                where = f.toString();
                break;
            }
        }
        String key = e.getClass().getName() + " @ " + where;
        if (failures.containsKey(key)) {
            return;
        }
        Path keep = Path.of("target", "fuzz-failures", name + "-" + i);
        FileTreesForTests.delete(keep);
        Files.createDirectories(keep.getParent());
        FileTreesForTests.copy(dir, keep);
        StringWriter trace = new StringWriter();
        e.printStackTrace(new PrintWriter(trace));
        String[] lines = trace.toString().split("\n");
        String shortTrace = String.join("\n", java.util.Arrays.copyOf(lines, Math.min(lines.length, 12)));
        failures.put(key, "try " + i + " (seed " + seed + ", input in " + keep + "): " + shortTrace);
    }
}
