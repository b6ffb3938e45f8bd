package org.onnxlora.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which sessions train opens, read from the profile files ONNX Runtime writes per session: one batch
 * per step runs the fused step graph alone (one session, not two), gradient accumulation the separate
 * training and optimizer graphs.
 */
class FusedTrainingRunTest {
    @TempDir
    Path tmp;

    private List<String> profiledGraphs(String tag, int gradAccum) throws IOException {
        Path profiles = tmp.resolve(tag + "-profiles");
        Files.createDirectories(profiles);
        TrainOptions o = TrainingRunTest.options(2).withBatch(8, gradAccum).withValid(null)
                .withRuntime(org.onnxlora.runtime.RuntimeOptions.defaults().withThreads(2)
                        .withProfilePrefix(profiles.resolve("p")));
        TrainingRun.create(tmp.resolve(tag), o).run();
        try (Stream<Path> files = Files.list(profiles)) {
            return files.map(p -> p.getFileName().toString()).map(n -> n.substring(2, n.indexOf('_', 2))).sorted()
                    .distinct().toList();
        }
    }

    @Test
    void oneBatchPerStepOpensOnlyTheStepSession() throws IOException {
        assertEquals(List.of("step"), profiledGraphs("fused", 1));
    }

    @Test
    void accumulationOpensTheSeparatePair() throws IOException {
        assertEquals(List.of("optimizer", "training"), profiledGraphs("accum", 2));
    }
}
