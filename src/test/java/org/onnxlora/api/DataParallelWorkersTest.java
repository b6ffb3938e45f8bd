package org.onnxlora.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.LocalAllReduce;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.runtime.RuntimeOptions;
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
