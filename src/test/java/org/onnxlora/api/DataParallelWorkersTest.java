package org.onnxlora.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.AllReduce;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.ForwardingWorker;
import org.onnxlora.parallel.StepGradients;
import org.onnxlora.parallel.LocalAllReduce;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.AdapterDiff;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.train.SessionWorker;

/**
 * The real data-parallel worker outside Spark (SparkClusterTest runs it on a cluster): what it
 * refuses, and that its run folder is a run.
 */
class DataParallelWorkersTest {
    @TempDir
    static Path tmp;
    static Path artifacts;

    static TrainOptions options(double lr) {
        return TrainOptions.defaults(Fixtures.torchscript(), Fixtures.tokenizer(), null, 4).withBatch(4, 1)
                .withSchedule(lr, 0, "constant").withSeed(7).withData(DataSettings.DEFAULT.withMaxLengths(64, 16))
                .withRuntime(RuntimeOptions.defaults().withThreads(1));
    }

    static List<TextPair> rows(int n) {
        List<TextPair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new TextPair("list the files of folder number " + i, "ls folder" + i, i));
        }
        return out;
    }

    @BeforeAll
    static void compile() {
        artifacts = tmp.resolve("artifacts");
        DataParallelWorkers.compile(options(1e-3), artifacts);
    }

    @Test
    void aCheckpointOfAnotherConfigurationIsRefusedAndTheRunFolderIsARun() {
        Path run = tmp.resolve("run");
        try (SessionWorker w = DataParallelWorkers.open(options(1e-3), run, artifacts, 0, List.of(rows(12)))) {
            DataParallelLoop.run(w, LocalAllReduce.group(1, Duration.ofSeconds(30)).get(0),
                    new DataParallelLoop.Options(4, 2));
            assertEquals(4, w.latestCheckpoint());
        }
        assertTrue(RunDirectory.isRun(run), "run.json is onnx-lora's");
        assertTrue(RunDirectory.at(run).trainedModel().isPresent(), "the patched model is the run's");
        assertTrue(TrainingRun.adapters(run).size() > 0, "the latest checkpoint holds the adapters");
        try (SessionWorker other = DataParallelWorkers.open(options(2e-3), run, artifacts, 1, List.of(rows(12)))) {
            OnnxLoraException e = assertThrows(OnnxLoraException.class, other::latestCheckpoint);
            assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("belongs to a run with another model or configuration"), e.getMessage());
        }
    }

    @Test
    void rankZeroNeverTakesAnotherRunsFolderOrOneOfTheUsersFiles() throws java.io.IOException {
        Path run = tmp.resolve("run-kept");
        try (SessionWorker w = DataParallelWorkers.open(options(1e-3), run, artifacts, 0, List.of(rows(12)))) {
            DataParallelLoop.run(w, LocalAllReduce.group(1, Duration.ofSeconds(30)).get(0),
                    new DataParallelLoop.Options(2, 2));
        }
        byte[] recorded = Files.readAllBytes(RunDirectory.at(run).info());
        OnnxLoraException other = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(2e-3), run, artifacts, 0, List.of(rows(12))).close());
        assertEquals(ErrorCode.BAD_ARGUMENT, other.code());
        assertTrue(other.getMessage().contains("cannot resume"), other.getMessage());
        org.junit.jupiter.api.Assertions.assertArrayEquals(recorded, Files.readAllBytes(RunDirectory.at(run).info()),
                "the other run's run.json is untouched");
        // the same settings resume their own folder (a restarted stage)
        DataParallelWorkers.open(options(1e-3), run, artifacts, 0, List.of(rows(12))).close();

        Path mine = Files.createDirectories(tmp.resolve("users-folder"));
        Files.writeString(mine.resolve("notes.txt"), "mine");
        OnnxLoraException foreign = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(1e-3), mine, artifacts, 0, List.of(rows(12))).close());
        assertTrue(foreign.getMessage().contains("is not a run folder"), foreign.getMessage());
        assertEquals("mine", Files.readString(mine.resolve("notes.txt")));
        assertTrue(!Files.exists(mine.resolve(RunDirectory.INFO)), "nothing written into the user's folder");
        assertRefusal(foreign);

        // a run's checkpoints without its run.json: nothing to check them against, not taken either
        Path orphan = tmp.resolve("orphan-checkpoints");
        Files.createDirectories(orphan.resolve("checkpoints").resolve("step-00000002"));
        OnnxLoraException orphaned = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(1e-3), orphan, artifacts, 0, List.of(rows(12))).close());
        assertTrue(orphaned.getMessage().contains("already holds a run with checkpoints"), orphaned.getMessage());
        assertFalse(orphaned.getMessage().contains("--"), "a library message names no CLI flag: " + orphaned.getMessage());
        assertEquals(java.util.Optional.of(org.onnxlora.Setting.RUN_MODE), orphaned.setting());
        assertRefusal(orphaned);
    }

    /**
     * A refused folder is the input's fault: the same folder is refused on every attempt, so it is a
     * verdict (a Spark stage stops at once) with train's exit status for it, never an I/O error to retry.
     */
    static void assertRefusal(OnnxLoraException e) {
        assertEquals(ErrorCode.OUTPUT_EXISTS, e.code(), e.getMessage());
        assertTrue(org.onnxlora.parallel.StopVerdict.isVerdict(e), "no retry: " + e.getMessage());
        assertEquals(3, e.code().exitCode(), "train's exit status for a folder it does not take");
    }

    @Test
    void aRunFolderThatCannotBeCreatedIsAnIoErrorToRetry() throws java.io.IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(1e-3), file.resolve("run"), artifacts, 0, List.of(rows(12))).close());
        assertEquals(ErrorCode.IO, e.code(), e.getMessage());
        assertTrue(e.getMessage().startsWith("cannot create "), e.getMessage());
        assertTrue(!org.onnxlora.parallel.StopVerdict.isVerdict(e), "a file system that may recover: a crash to retry");
    }

    static List<com.google.gson.JsonObject> metrics(Path run) throws java.io.IOException {
        List<com.google.gson.JsonObject> out = new ArrayList<>();
        for (String line : Files.readAllLines(RunDirectory.at(run).metrics())) {
            out.add(com.google.gson.JsonParser.parseString(line).getAsJsonObject());
        }
        return out;
    }

    @Test
    void rankZeroWritesTheGlobalMetricsAndSummaryAndItsCheckpointRecordsTheGlobalLoss() throws Exception {
        Path run = tmp.resolve("run-two");
        List<AllReduce> group = LocalAllReduce.group(2, Duration.ofSeconds(60));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        List<java.util.concurrent.Future<DataParallelLoop.Result>> fs = new ArrayList<>();
        try {
            List<TextPair> all = rows(16);
            for (int r = 0; r < 2; r++) {
                int rank = r;
                List<TextPair> shard = all.subList(rank * 8, rank * 8 + 8);
                fs.add(pool.submit(() -> {
                    try (SessionWorker w = DataParallelWorkers.open(options(1e-3), run, artifacts, rank, List.of(shard));
                         AllReduce member = group.get(rank)) {
                        return DataParallelLoop.run(w, member, new DataParallelLoop.Options(4, 2));
                    }
                }));
            }
            List<Double> losses = fs.get(0).get(120, java.util.concurrent.TimeUnit.SECONDS).meanLosses();
            fs.get(1).get(120, java.util.concurrent.TimeUnit.SECONDS);
            List<com.google.gson.JsonObject> m = metrics(run);
            assertEquals(List.of(1L, 2L, 3L, 4L), m.stream().map(o -> o.get("step").getAsLong()).toList());
            for (int i = 0; i < 4; i++) {
                com.google.gson.JsonObject o = m.get(i);
                assertEquals("train", o.get("event").getAsString());
                assertEquals(losses.get(i), o.get("loss").getAsDouble(), 0.0, "the global mean loss");
                assertEquals(2, o.get("workers").getAsInt());
                assertEquals(1e-3, o.get("lr").getAsDouble(), 0.0);
                for (String k : List.of("tokens", "tokens_per_second", "step_seconds", "allreduce_seconds", "grad_norm")) {
                    assertTrue(o.get(k).getAsDouble() > 0 || k.equals("allreduce_seconds"), k + " in " + o);
                }
            }
            Path latest = org.onnxlora.run.Checkpoint.latest(run).orElseThrow();
            assertEquals(losses.get(3), org.onnxlora.run.Checkpoint.readState(latest).lastLoss(), 0.0,
                    "the checkpoint's last loss is the global mean, not rank 0's share");
            com.google.gson.JsonObject summary = com.google.gson.JsonParser.parseString(
                    Files.readString(RunDirectory.at(run).summary())).getAsJsonObject();
            assertEquals(4, summary.get("steps").getAsLong());
            assertEquals(losses.stream().mapToDouble(Double::doubleValue).average().orElseThrow(),
                    summary.get("train_loss").getAsDouble(), 1e-12);
            assertTrue(summary.get("checkpoint").getAsString().endsWith("step-00000004"), summary.toString());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aResumedRankZeroDropsTheStepsAfterItsCheckpointFromTheMetrics() throws Exception {
        Path run = tmp.resolve("run-resume");
        List<TextPair> shard = rows(12);
        // the first attempt logs step 3 and dies in step 4; the last checkpoint is step 2's
        try (SessionWorker w = DataParallelWorkers.open(options(1e-3), run, artifacts, 0, List.of(shard))) {
            ForwardingWorker dying = new ForwardingWorker(w) {
                @Override
                public StepGradients computeGradients(long step) {
                    if (step == 4) {
                        throw new IllegalStateException("the executor died");
                    }
                    return super.computeGradients(step);
                }
            };
            assertThrows(IllegalStateException.class, () -> DataParallelLoop.run(dying,
                    LocalAllReduce.group(1, Duration.ofSeconds(30)).get(0), new DataParallelLoop.Options(4, 2)));
        }
        assertEquals(List.of(1L, 2L, 3L), metrics(run).stream().map(o -> o.get("step").getAsLong()).toList());
        assertTrue(!Files.exists(RunDirectory.at(run).summary()), "no summary before the end");
        try (SessionWorker w = DataParallelWorkers.open(options(1e-3), run, artifacts, 0, List.of(shard))) {
            assertEquals(2, DataParallelLoop.run(w, LocalAllReduce.group(1, Duration.ofSeconds(30)).get(0),
                    new DataParallelLoop.Options(4, 2)).resumedFrom());
        }
        assertEquals(List.of(1L, 2L, 3L, 4L), metrics(run).stream().map(o -> o.get("step").getAsLong()).toList(),
                "step 3 once: redone, not repeated");
        assertTrue(Files.exists(RunDirectory.at(run).summary()));
    }

    /** The options of {@link #options} on another model file. */
    static TrainOptions options(Path model, double lr) {
        return TrainOptions.defaults(model, Fixtures.tokenizer(), null, 4).withBatch(4, 1)
                .withSchedule(lr, 0, "constant").withSeed(7).withData(DataSettings.DEFAULT.withMaxLengths(64, 16))
                .withRuntime(RuntimeOptions.defaults().withThreads(1));
    }

    /** Sixteen pairs of varied lengths (targets pad the decoder side), sharded as the job shards: row i to rank i % 2. */
    static List<List<TextPair>> variedShards() {
        List<List<TextPair>> shards = List.of(new ArrayList<>(), new ArrayList<>());
        for (int i = 0; i < 16; i++) {
            shards.get(i % 2).add(new TextPair("show the lines of file number " + i + " that match the word "
                    + "ab".repeat(i % 5), i % 3 == 0 ? "grep w f" + i : "grep --ignore-case word file" + i + " | sort | uniq", i));
        }
        return shards;
    }

    /** One process accumulating every shard in rank order, 4 steps: what the ranks must reproduce. */
    static Path trainAlone(TrainOptions o, Path graphs, Path run, List<List<TextPair>> shards) {
        try (SessionWorker w = DataParallelWorkers.open(o, run, graphs, 0, shards)) {
            DataParallelLoop.run(w, LocalAllReduce.group(1, Duration.ofSeconds(30)).get(0),
                    new DataParallelLoop.Options(4, 4));
        }
        return run;
    }

    /** One rank per shard, in threads summing through {@link LocalAllReduce}, 4 steps. */
    static Path trainAsRanks(TrainOptions o, Path graphs, Path run, List<List<TextPair>> shards) throws Exception {
        List<AllReduce> group = LocalAllReduce.group(shards.size(), Duration.ofSeconds(60));
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(shards.size());
        try {
            List<java.util.concurrent.Future<DataParallelLoop.Result>> fs = new ArrayList<>();
            for (int r = 0; r < shards.size(); r++) {
                int rank = r;
                fs.add(pool.submit(() -> {
                    try (SessionWorker w = DataParallelWorkers.open(o, run, graphs, rank, List.of(shards.get(rank)));
                         AllReduce member = group.get(rank)) {
                        return DataParallelLoop.run(w, member, new DataParallelLoop.Options(4, 4));
                    }
                }));
            }
            for (java.util.concurrent.Future<DataParallelLoop.Result> f : fs) {
                f.get(180, java.util.concurrent.TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        return run;
    }

    /** Two ranks' run against one process's: the same adapters and the same global loss per step, within 1e-6. */
    static void assertSameTraining(Path alone, Path ranks) throws java.io.IOException {
        double rel = AdapterDiff.relative(TrainingRun.adapters(alone), TrainingRun.adapters(ranks));
        assertTrue(rel <= 1e-6, "max relative difference " + rel);
        List<Double> one = metrics(alone).stream().map(m -> m.get("loss").getAsDouble()).toList();
        List<Double> two = metrics(ranks).stream().map(m -> m.get("loss").getAsDouble()).toList();
        assertEquals(4, two.size());
        for (int i = 0; i < 4; i++) {
            assertEquals(one.get(i), two.get(i), 1e-6 * one.get(i), "the global mean loss of step " + (i + 1));
        }
    }

    /** The 3-input export trained alone on {@link #variedShards}: the reference of the other export shapes. */
    static synchronized Path threeInputAlone() {
        Path run = tmp.resolve("run-3in-alone");
        return RunDirectory.isRun(run) ? run : trainAlone(options(Fixtures.torchscript(), 2e-3), artifacts, run,
                variedShards());
    }

    /**
     * The ordinary export (input_ids, attention_mask, decoder_input_ids, decoder_attention_mask): two
     * ranks train it as one process accumulating both shards does.
     */
    @Test
    void twoRanksTrainAFourInputExportLikeOneProcessAccumulatingBothShards() throws Exception {
        TrainOptions o = options(org.onnxlora.testing.ExportVariants.fourInput(), 2e-3);
        Path graphs = tmp.resolve("artifacts-4in");
        DataParallelWorkers.compile(o, graphs);
        try (SessionWorker w = DataParallelWorkers.open(o, tmp.resolve("run-4in-probe"), graphs, 1, variedShards())) {
            assertTrue(w.session().signature().has(org.onnxlora.runtime.Seq2SeqSignature.Feed.DECODER_ATTENTION_MASK),
                    "the 4-input graph is trained: " + w.session().signature());
        }
        Path ranks = trainAsRanks(o, graphs, tmp.resolve("run-4in-ranks"), variedShards());
        assertSameTraining(trainAlone(o, graphs, tmp.resolve("run-4in-alone"), variedShards()), ranks);
        // the 3-input export of the same weights trains the same: the decoder mask only hides the padding after
        // each target, which causal attention hides already (a mask fed wrong, zeros or misaligned, would show)
        double rel3 = AdapterDiff.relative(TrainingRun.adapters(threeInputAlone()), TrainingRun.adapters(ranks));
        assertTrue(rel3 <= 1e-6, "4-input vs 3-input export: max relative difference " + rel3);
    }

    /**
     * An Optimum folder (encoder_model.onnx + decoder_model.onnx) trains as train trains it: every file
     * patched with one adapter set, the two joined into one graph; rank 0 keeps the patched folder as
     * RUN/model/, which merge folds the run's adapters into.
     */
    @Test
    void twoRanksTrainAnOptimumFolderLikeOneProcessAndTheRunMerges() throws Exception {
        TrainOptions o = options(Fixtures.optimum(), 2e-3);
        Path graphs = tmp.resolve("artifacts-optimum");
        DataParallelWorkers.compile(o, graphs);
        Path ranks = trainAsRanks(o, graphs, tmp.resolve("run-optimum-ranks"), variedShards());
        assertSameTraining(trainAlone(o, graphs, tmp.resolve("run-optimum-alone"), variedShards()), ranks);
        double rel3 = AdapterDiff.relative(TrainingRun.adapters(threeInputAlone()), TrainingRun.adapters(ranks));
        assertTrue(rel3 <= 1e-6, "the joined folder trains as the single-file export of the same weights: " + rel3);
        RunDirectory run = RunDirectory.at(ranks);
        assertEquals(java.util.Optional.of(run.modelFolder()), run.trainedModel());
        assertTrue(!Files.exists(run.model()), "no single-file model beside the folder");
        for (String f : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            assertTrue(org.onnxlora.lora.LoraMetadata.read(org.onnxlora.io.ModelIO.load(run.modelFolder().resolve(f)))
                    .isPresent(), f + " is patched");
        }
        Path merged = tmp.resolve("merged-optimum");
        assertEquals(0, org.onnxlora.cli.Main.run("merge", "--model", run.modelFolder().toString(), "--adapter",
                ranks.toString(), "--out", merged.toString(), "-q"));
        for (String f : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            assertTrue(!java.util.Arrays.equals(Files.readAllBytes(merged.resolve(f)),
                    Files.readAllBytes(Fixtures.optimum().resolve(f))), f + " received the trained adapters");
        }
        // a rank 0 killed while writing RUN/model/ (each file is written whole): the next attempt's completes it
        Path decoder = run.modelFolder().resolve("decoder_model.onnx");
        byte[] written = Files.readAllBytes(decoder);
        Files.delete(decoder);
        DataParallelWorkers.open(o, ranks, graphs, 0, List.of(variedShards().get(0))).close();
        org.junit.jupiter.api.Assertions.assertArrayEquals(written, Files.readAllBytes(decoder), "the same patched file");
    }

    @Test
    void anEmptyShardIsOneLine() {
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(1e-3), tmp.resolve("empty"), artifacts, 1, List.of(List.of())));
        assertEquals(ErrorCode.BAD_DATA, e.code());
        assertTrue(e.getMessage().contains("rank 1 got no training rows"), e.getMessage());
    }

    @Test
    void anArtifactsFolderWithoutGraphsIsRefused() throws Exception {
        Path none = Files.createDirectories(tmp.resolve("no-graphs"));
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> DataParallelWorkers.open(options(1e-3), tmp.resolve("r"), none, 1, List.of(rows(4))));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("holds no compiled training graphs"), e.getMessage());
    }
}
