package example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.api.DataSettings;
import org.onnxlora.api.LoraModel;
import org.onnxlora.api.RunListener;
import org.onnxlora.api.StopRequest;
import org.onnxlora.api.TrainOptions;
import org.onnxlora.api.TrainingRun;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.run.RunSummary;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * A user's program, outside the org.onnxlora packages: patch a base model (on the fly), train,
 * merge and generate through the public API alone, as docs/library.md shows.
 */
class LibraryExampleTest {
    @TempDir
    Path work;

    @Test
    void patchTrainMergeGenerate() {
        Path base = Path.of("models/tiny-bart/model.onnx");
        Path tokenizer = Path.of("models/tiny-bart/tokenizer.json");
        Path data = Path.of("models/datasets/manpages");
        RuntimeOptions runtime = RuntimeOptions.defaults().withThreads(2);

        TrainOptions options = TrainOptions.defaults(base, tokenizer, data.resolve("train.jsonl"), 8)
                .withValid(data.resolve("valid.jsonl"))
                .withLora(4, 8, List.of("q_proj", "v_proj"))
                .withBatch(8, 1)
                .withSchedule(3e-3, 2, "linear")
                .withData(DataSettings.DEFAULT.withMaxLengths(64, 16))
                .withRuntime(runtime);
        List<String> notes = new ArrayList<>();
        RunListener listener = new RunListener() {
            @Override
            public void info(String line) {
                notes.add(line);
            }
        };
        Path run = work.resolve("run");
        RunSummary summary = TrainingRun.create(run, options).run(listener, StopRequest::never).summary();
        assertEquals(8, summary.steps());
        assertTrue(summary.validLoss() < summary.initialValidLoss(), summary.toString());
        assertTrue(notes.stream().anyMatch(n -> n.startsWith("patching ")), notes::toString);

        LoraModel merged = LoraModel.open(run.resolve("model.onnx")).merge(run, work.resolve("merged.onnx"));
        assertTrue(Files.isRegularFile(merged.path()));
        List<String> out = merged.generate(tokenizer, List.of("list directory contents", "copy files and directories"),
                64, GenerationConfig.DEFAULT.withMaxNewTokens(8), runtime);
        assertEquals(2, out.size());
        assertTrue(out.stream().allMatch(s -> !s.isEmpty()), out::toString);
    }
}
