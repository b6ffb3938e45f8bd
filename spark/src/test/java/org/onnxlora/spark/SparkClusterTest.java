package org.onnxlora.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.parallel.AllReduce;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.LeastSquaresWorker;
import org.onnxlora.parallel.LocalAllReduce;

/**
 * A real multi-JVM cluster on this machine: {@code local-cluster[2,1,1024]} (a master, two workers and
 * two executor JVMs launched from SPARK_HOME/jars, which this test fills from its own classpath).
 */
class SparkClusterTest {
    static final int ROWS = 96;
    static final int STEPS = 20;
    static SparkSession spark;
    static Path data;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void cluster() throws IOException {
        String home = System.getenv("SPARK_HOME");
        assertNotNull(home, "SPARK_HOME must be set (the pom's surefire configuration sets it)");
        sparkHome(Path.of(home));
        data = tmp.resolve("pairs.jsonl");
        StringBuilder jsonl = new StringBuilder();
        for (String[] r : LeastSquaresWorker.rows(ROWS)) {
            jsonl.append("{\"source\":\"").append(r[0]).append("\",\"target\":\"").append(r[1]).append("\"}\n");
        }
        Files.writeString(data, jsonl);
        spark = SparkSession.builder().master("local-cluster[2,1,1024]").appName("onnx-lora-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.executor.memory", "1024m")
                // a relaunched executor takes seconds: check for free slots every second, not every 15
                .config("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "1s")
                .config("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures", "120")
                .getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** SPARK_HOME as local-cluster needs it: a RELEASE file and jars/ holding the whole classpath. */
    static void sparkHome(Path home) throws IOException {
        Path jars = home.resolve("jars");
        if (Files.exists(jars)) {
            try (Stream<Path> old = Files.walk(jars)) {
                for (Path p : old.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        Files.createDirectories(jars);
        Files.writeString(home.resolve("RELEASE"), "Spark (jars from the Maven test classpath of onnx-lora)\n");
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<Path> dirs = new ArrayList<>();
        int i = 0;
        for (String entry : cp.split(java.io.File.pathSeparator)) {
            Path p = Path.of(entry);
            if (Files.isDirectory(p)) {
                dirs.add(p);
            } else if (entry.endsWith(".jar") && Files.exists(p)) {
                Files.createSymbolicLink(jars.resolve(String.format("%03d-%s", i++, p.getFileName())), p.toAbsolutePath());
            }
        }
        // the classes of this build (core, test worker, Spark job) as one jar, as spark-submit would ship them
        try (JarOutputStream jar = new JarOutputStream(Files.newOutputStream(jars.resolve("000-onnx-lora-app.jar")))) {
            for (Path dir : dirs) {
                try (Stream<Path> files = Files.walk(dir)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        String name = dir.relativize(f).toString().replace('\\', '/');
                        jar.putNextEntry(new JarEntry(name));
                        Files.copy(f, jar);
                        jar.closeEntry();
                    }
                } catch (java.util.zip.ZipException duplicate) {
                    // the same resource in two folders: the first wins, as on a classpath
                }
            }
        }
    }

    /** The same rows, sharded the same way, trained by one worker accumulating both shards. */
    static float[] singleProcess(Path dir) {
        LeastSquaresWorker w = new LeastSquaresWorker(0, 0,
                LeastSquaresWorker.shard(LeastSquaresWorker.rows(ROWS), 2), 3, dir, null, "m");
        List<AllReduce> one = LocalAllReduce.group(1, Duration.ofSeconds(5));
        DataParallelLoop.run(w, one.get(0), new DataParallelLoop.Options(STEPS, 5));
        return w.weights();
    }

    static float[] checkpointed(Path dir, long step) {
        LeastSquaresWorker w = new LeastSquaresWorker(0, 0, List.of(), 3, dir, null, "m");
        assertEquals(step, w.latestCheckpoint());
        w.restore(step);
        return w.weights();
    }

    private static SparkTrainConfig config() {
        return SparkTrainConfig.of(2, STEPS, 5).withBindHost("127.0.0.1").withStepTimeout(Duration.ofSeconds(30));
    }

    @Test
    void twoWorkersTrainLikeOneProcess() {
        Path ck = tmp.resolve("ck-plain");
        TrainOutcome o = SparkTrainer.train(spark.read().json(data.toString()), config(),
                new LeastSquaresFactory(Map.of("checkpoints", ck.toString())));
        assertEquals(0, o.resumedFrom());
        assertEquals(STEPS, o.meanLosses().size());
        float[] reference = singleProcess(tmp.resolve("ck-single"));
        float[] got = checkpointed(ck, STEPS);
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < got.length; i++) {
            scale = Math.max(scale, Math.abs(reference[i]));
            diff = Math.max(diff, Math.abs(reference[i] - got[i]));
        }
        assertTrue(scale > 0.01, "the weights moved");
        assertTrue(diff / scale <= 1e-6, "max relative difference " + diff / scale);
        assertArrayEquals(reference, got, "two addends per element: the ring sums exactly like one process");
    }

    @Test
    void anExecutorThatDiesMidStepIsReplacedAndTheStageResumesFromTheLastCheckpoint() {
        Path ck = tmp.resolve("ck-halt");
        TrainOutcome o = SparkTrainer.train(spark.read().json(data.toString()), config(), new LeastSquaresFactory(
                Map.of("checkpoints", ck.toString(), "halt-rank", "1", "halt-step", "13")));
        assertTrue(o.attempt() >= 1, "a second stage attempt finished the run");
        assertEquals(10, o.resumedFrom(), "resumed from the checkpoint after step 10");
        assertArrayEquals(singleProcess(tmp.resolve("ck-single-2")), checkpointed(ck, STEPS), "no step lost or repeated");
    }

    @Test
    void workersWithDifferentModelsStopTheJobWithOneLine() throws IOException {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = SparkTrainMain.run(spark, new String[] {"--input", data.toString(), "--format", "json",
                "--workers", "2", "--steps", "5", "--bind-host", "127.0.0.1",
                "--worker-factory", LeastSquaresFactory.class.getName(),
                "--worker-option", "checkpoints=" + tmp.resolve("ck-mismatch"),
                "--worker-option", "model-of-rank-1=0000aaaa0000aaaa0000aaaa0000aaaa"},
                new PrintStream(OutputStream.nullOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, text);
        assertEquals("error: workers were given different models: rank 1 has 0000aaaa0000aaaa…, rank 0 has "
                + "9f86d081884c7d65…\n", text);
    }
}
