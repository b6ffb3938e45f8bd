package org.onnxlora.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/** Paths of the committed fixtures (made by tools/make_fixtures.py). */
public final class Fixtures {
    private Fixtures() {}

    public static Path root() {
        Path p = Path.of("models", "tiny-bart");
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("run tests from the repository root; " + p.toAbsolutePath() + " missing");
        }
        return p;
    }

    public static Path torchscript() {
        return root().resolve("model.onnx");
    }

    public static Path dynamo() {
        return root().resolve("model.dynamo.onnx");
    }

    /** Both exporters' single-file models, for tests parameterised over them. */
    public static java.util.stream.Stream<Path> bothExporters() {
        return java.util.stream.Stream.of(torchscript(), dynamo());
    }

    /** Both exporters, 3 and 4 inputs (decoder_attention_mask fed), same weights. */
    public static java.util.stream.Stream<Path> exportsWithFourInputs() {
        return java.util.stream.Stream.of(torchscript(), dynamo(), ExportVariants.fourInput(),
                ExportVariants.fourInputDynamo());
    }

    public static Path optimum() {
        return root().resolve("optimum");
    }

    public static Path tokenizer() {
        return root().resolve("tokenizer.json");
    }

    public static Path goldens() {
        return root().resolve("goldens");
    }

    /**
     * Writes the first {@code rows} lines of the bundled man-page {@code split} ("train" or "valid") to
     * {@code out}: small, real text pairs for tests that train through the commands.
     */
    public static Path manPageRows(Path out, String split, int rows) throws java.io.IOException {
        Path source = Path.of("models/datasets/manpages", split + ".jsonl");
        Files.write(out, Files.readAllLines(source).subList(0, rows));
        return out;
    }
}
