package org.onnxlora.spark;

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
import java.util.HashMap;
import java.util.regex.Pattern;
import org.onnxlora.api.DataParallelWorkers;
import org.onnxlora.api.TrainingRun;
import org.onnxlora.data.TextPair;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.parallel.AllReduce;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.LocalAllReduce;
import org.onnxlora.testing.AdapterDiff;
import org.onnxlora.testing.Fixtures;

/**
 * A real multi-JVM cluster on this machine: {@code local-cluster[2,1,1024]} (a master, two workers and
 * two executor JVMs launched from SPARK_HOME/jars, which this test fills from its own classpath),
 * training the tiny BART fixture with the real trainer ({@link LoraWorkerFactory}). The training
 * graphs are compiled once here and shared read-only by every worker.
 */
class SparkClusterTest {
    static final int ROWS = 64;
    static final int STEPS = 20;
    static SparkSession spark;
    static Path data;
    static Path artifacts;
    /** One process accumulating both shards in rank order: what two workers must reproduce. */
    static AdapterValues reference;
    /** Its mean loss per step (its metrics.jsonl). */
    static List<Double> referenceLosses;
    /** Tasks that ended failed or killed, counted by a listener: a retried stage shows here. */
    static final java.util.concurrent.atomic.AtomicInteger failedTasks = new java.util.concurrent.atomic.AtomicInteger();

    @TempDir
    static Path tmp;

    @BeforeAll
    static void cluster() throws IOException {
        String home = System.getenv("SPARK_HOME");
        assertNotNull(home, "SPARK_HOME must be set (the pom's surefire configuration sets it)");
        sparkHome(Path.of(home));
        data = Fixtures.manPageRows(tmp.resolve("pairs.jsonl"), "train", ROWS).toAbsolutePath();
        artifacts = tmp.resolve("artifacts").toAbsolutePath();
        DataParallelWorkers.compile(factory("unused").trainOptions(), artifacts);
        reference = singleProcess(tmp.resolve("run-single"));
        referenceLosses = losses(tmp.resolve("run-single"));
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
        spark.sparkContext().addSparkListener(new org.apache.spark.scheduler.SparkListener() {
            @Override
            public void onTaskEnd(org.apache.spark.scheduler.SparkListenerTaskEnd end) {
                if (end.taskInfo().failed() || end.taskInfo().killed()) {
                    failedTasks.incrementAndGet();
                }
            }
        });
    }

    /** Task failures so far, once the listener has seen every event of the jobs run. */
    static int failedTasksSoFar() throws java.util.concurrent.TimeoutException {
        spark.sparkContext().listenerBus().waitUntilEmpty();
        return failedTasks.get();
    }

    /** The train entries of RUN/metrics.jsonl, step by step, as (step, loss); fails on a step logged twice or missing. */
    static List<Double> losses(Path run) throws IOException {
        List<Double> out = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(line).getAsJsonObject();
            assertEquals("train", o.get("event").getAsString());
            assertEquals(out.size() + 1, o.get("step").getAsLong(), "steps 1.. in order, each once: " + line);
            out.add(o.get("loss").getAsDouble());
        }
        return out;
    }

    /** The run's metrics are the single process's (global mean loss), and it has the summary of a finished run. */
    static void assertRunRecords(Path run) throws IOException {
        List<Double> got = losses(run);
        assertEquals(STEPS, got.size());
        for (int i = 0; i < STEPS; i++) {
            double want = referenceLosses.get(i);
            assertTrue(Math.abs(got.get(i) - want) <= 1e-6 * Math.abs(want), "step " + (i + 1) + ": " + got.get(i)
                    + " vs one process " + want);
        }
        com.google.gson.JsonObject summary = com.google.gson.JsonParser.parseString(
                Files.readString(run.resolve("summary.json"))).getAsJsonObject();
        assertEquals(STEPS, summary.get("steps").getAsLong());
        assertTrue(summary.get("train_loss").getAsDouble() > 0, summary.toString());
        assertTrue(summary.get("checkpoint").getAsString().endsWith(String.format("step-%08d", STEPS)), summary.toString());
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

    /** The worker options of every test: real model and tokenizer, shared graphs, run folder {@code out}. */
    static Map<String, String> options(String out) {
        Map<String, String> m = new HashMap<>();
        m.put("model", Fixtures.torchscript().toAbsolutePath().toString());
        m.put("tokenizer", Fixtures.tokenizer().toAbsolutePath().toString());
        m.put("out", tmp.resolve(out).toAbsolutePath().toString());
        m.put("artifacts", artifacts.toString());
        m.put("batch-size", "4");
        m.put("lr", "2e-3");
        m.put("warmup", "5");
        m.put("seed", "7");
        m.put("max-source-length", "64");
        m.put("max-target-length", "32");
        m.put("steps", Integer.toString(STEPS));
        return m;
    }

    static LoraWorkerFactory factory(String out) {
        return new LoraWorkerFactory(options(out));
    }

    /** The input's rows sharded as the job shards them: row i to rank i % 2, in row order. */
    static List<List<TextPair>> shards() throws IOException {
        List<List<TextPair>> shards = List.of(new ArrayList<>(), new ArrayList<>());
        List<String> lines = Files.readAllLines(data);
        for (int i = 0; i < lines.size(); i++) {
            com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(lines.get(i)).getAsJsonObject();
            shards.get(i % 2).add(new TextPair(o.get("source").getAsString(), o.get("target").getAsString(), i));
        }
        return shards;
    }

    /** The same rows, sharded the same way, trained by one worker accumulating both shards. */
    static AdapterValues singleProcess(Path dir) throws IOException {
        List<AllReduce> one = LocalAllReduce.group(1, Duration.ofSeconds(30));
        try (DataParallelWorker w = DataParallelWorkers.open(factory("unused").trainOptions(), dir, artifacts, 0,
                shards())) {
            DataParallelLoop.run(w, one.get(0), new DataParallelLoop.Options(STEPS, 5));
        }
        return TrainingRun.adapters(dir);
    }

    private static SparkTrainConfig config() {
        return SparkTrainConfig.of(2, STEPS, 5).withBindHost("127.0.0.1").withStepTimeout(Duration.ofSeconds(60));
    }

    @Test
    void twoWorkersTrainTinyBartLikeOneProcessAndTheRunMergesAndReports() throws IOException {
        Path run = tmp.resolve("run-plain");
        TrainOutcome o = SparkTrainer.train(spark.read().json(data.toString()), config(), factory("run-plain"));
        assertEquals(0, o.resumedFrom());
        assertEquals(STEPS, o.meanLosses().size());
        assertTrue(o.meanLosses().get(STEPS - 1) < o.meanLosses().get(0), "the loss went down: " + o.meanLosses());
        AdapterValues got = TrainingRun.adapters(run);
        double rel = AdapterDiff.relative(reference, got);
        assertTrue(rel <= 1e-6, "max relative difference " + rel);
        // a run folder like a single-process run's: merge folds its latest checkpoint into its model
        Path merged = tmp.resolve("merged.onnx");
        assertEquals(0, org.onnxlora.cli.Main.run("merge", "--model", run.resolve("model.onnx").toString(),
                "--adapter", run.toString(), "--out", merged.toString(), "-q"));
        assertTrue(Files.size(merged) > 100_000);
        // rank 0 logged the steps as a single-process run does, with the global mean loss
        assertEquals(o.meanLosses(), losses(run));
        assertRunRecords(run);
        assertEquals(o.meanLosses().get(STEPS - 1), org.onnxlora.run.Checkpoint.readState(
                org.onnxlora.run.Checkpoint.latest(run).orElseThrow()).lastLoss(), 0.0, "the checkpoint's global loss");
        // and report reads the folder like any run's, with nothing missing
        assertEquals(List.of(), org.onnxlora.report.RunLoader.load(run, "spark").notices());
        Path html = tmp.resolve("spark-report.html");
        assertEquals(0, org.onnxlora.cli.Main.run("report", run.toString(), "--out", html.toString(), "-q"));
        assertTrue(Files.readString(html).contains("run-plain"), "the page names the run");
    }

    @Test
    void anExecutorThatDiesMidStepIsReplacedAndTheStageResumesFromTheLastCheckpoint() throws Exception {
        Map<String, String> m = options("run-halt");
        m.put("halt-rank", "1");
        m.put("halt-step", "13");
        TrainOutcome o = SparkTrainer.train(spark.read().json(data.toString()), config(), new FaultyLoraFactory(m));
        assertTrue(o.attempt() >= 1, "a second stage attempt finished the run");
        assertEquals(10, o.resumedFrom(), "resumed from the checkpoint after step 10");
        double rel = AdapterDiff.relative(reference, TrainingRun.adapters(tmp.resolve("run-halt")));
        assertTrue(rel <= 1e-6, "no step lost or repeated: max relative difference " + rel);
        // metrics.jsonl was cut back to step 10 by the resumed rank 0: steps 11..13 are not there twice
        assertRunRecords(tmp.resolve("run-halt"));
    }

    @Test
    void workersWithDifferentModelFilesStopTheJobWithOneLineAndNoRetry() throws Exception {
        int failedBefore = failedTasksSoFar();
        Map<String, String> m = options("run-mismatch");
        m.put("model-of-rank-1", Fixtures.dynamo().toAbsolutePath().toString());
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("--input", data.toString(), "--format", "json", "--workers", "2",
                "--steps", "5", "--bind-host", "127.0.0.1", "--worker-factory", FaultyLoraFactory.class.getName()));
        m.remove("steps");
        m.forEach((k, v) -> args.addAll(List.of("--worker-option", k + "=" + v)));
        int code = SparkTrainMain.run(spark, args.toArray(String[]::new),
                new PrintStream(OutputStream.nullOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(2, code, text);
        assertTrue(Pattern.matches("error: workers were given different models: rank 1 has [0-9a-f]{16}…, rank 0 has"
                + " [0-9a-f]{16}…\n", text), text);
        assertEquals(failedBefore, failedTasksSoFar(), "bad input is the tasks' result: no task failed, no stage retried");
    }

    @Test
    void aCudaDeviceMissingOnTheExecutorsIsOneLineWithItsOwnCodeAndNoRetry() throws Exception {
        int failedBefore = failedTasksSoFar();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("--input", data.toString(), "--format", "json", "--workers", "2",
                "--steps", "5", "--bind-host", "127.0.0.1", "--worker-factory", LoraWorkerFactory.class.getName()));
        Map<String, String> m = options("run-cuda");
        m.remove("steps");
        m.put("device", "cuda:0"); // a name that parses on the driver; this build's executors have no CUDA
        m.forEach((k, v) -> args.addAll(List.of("--worker-option", k + "=" + v)));
        int code = SparkTrainMain.run(spark, args.toArray(String[]::new),
                new PrintStream(OutputStream.nullOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(org.onnxlora.ErrorCode.RUNTIME.exitCode(), code, text);
        assertTrue(text.startsWith("error: CUDA is not available: ") && text.indexOf('\n') == text.length() - 1, text);
        assertEquals(failedBefore, failedTasksSoFar(), "no task failed, no stage retried");
    }

    @Test
    void aFolderOfTheUsersAsTheRunFolderIsOneLineWithTrainsCodeAndNoRetry() throws Exception {
        int failedBefore = failedTasksSoFar();
        Path mine = Files.createDirectories(tmp.resolve("users-folder"));
        Files.writeString(mine.resolve("notes.txt"), "mine");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("--input", data.toString(), "--format", "json", "--workers", "2",
                "--steps", "5", "--bind-host", "127.0.0.1", "--worker-factory", LoraWorkerFactory.class.getName()));
        Map<String, String> m = options("users-folder");
        m.remove("steps");
        m.forEach((k, v) -> args.addAll(List.of("--worker-option", k + "=" + v)));
        int code = SparkTrainMain.run(spark, args.toArray(String[]::new),
                new PrintStream(OutputStream.nullOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        String text = err.toString(StandardCharsets.UTF_8);
        assertEquals(org.onnxlora.ErrorCode.OUTPUT_EXISTS.exitCode(), code, text);
        assertTrue(text.startsWith("error: " + mine.toAbsolutePath() + " is not a run folder and not empty")
                && text.indexOf('\n') == text.length() - 1, text);
        assertEquals(failedBefore, failedTasksSoFar(), "a refused folder is refused again: no task failed, no retry");
        try (Stream<Path> files = Files.list(mine)) {
            assertEquals(List.of(mine.resolve("notes.txt")), files.toList(), "nothing written into the user's folder");
        }
    }

    @Test
    void aDeviceThatDoesNotExistIsOneLineBeforeTheJobStarts() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = new ArrayList<>(List.of("--input", data.toString(), "--format", "json", "--workers", "2",
                "--steps", "5", "--worker-factory", LoraWorkerFactory.class.getName()));
        options("run-device").forEach((k, v) -> args.addAll(List.of("--worker-option", k + "=" + v)));
        args.addAll(List.of("--worker-option", "device=tpu:3"));
        int code = SparkTrainMain.run(spark, args.toArray(String[]::new),
                new PrintStream(OutputStream.nullOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        assertEquals("error: worker option device: the device must be cpu, cuda or cuda:N, got 'tpu:3'\n",
                err.toString(StandardCharsets.UTF_8));
        assertTrue(!Files.exists(tmp.resolve("run-device")), "no worker started");
    }

    @Test
    void anUnknownWorkerOptionIsRefusedOnTheDriver() {
        Map<String, String> m = options("run-unknown");
        m.put("learning-rate", "1e-3");
        org.onnxlora.OnnxLoraException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.onnxlora.OnnxLoraException.class, () -> new LoraWorkerFactory(m));
        assertEquals(org.onnxlora.ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("unknown worker option 'learning-rate'; known: alpha, artifacts,"),
                e.getMessage());
    }
}
