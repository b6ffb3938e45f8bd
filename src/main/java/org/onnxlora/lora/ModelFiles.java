package org.onnxlora.lora;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * A model as the user names it: one {@code .onnx} file, or an Optimum export folder
 * ({@code encoder_model.onnx}, {@code decoder_model.onnx}, ...) whose files must all
 * receive the same adapters.
 *
 * @param root the path given
 * @param directory whether it is a folder
 * @param onnxFiles the ONNX files, sorted
 */
public record ModelFiles(Path root, boolean directory, List<Path> onnxFiles) {
    /** Optimum's file names. */
    public static final String ENCODER = "encoder_model.onnx";
    public static final String DECODER = "decoder_model.onnx";
    public static final String DECODER_WITH_PAST = "decoder_with_past_model.onnx";

    /** Refuses a folder that lacks an Optimum encoder or decoder file, naming the missing one. */
    public static void requireOptimum(Path dir) {
        for (String f : List.of(ENCODER, DECODER)) {
            if (!Files.isRegularFile(dir.resolve(f))) {
                throw new OnnxLoraException(ErrorCode.IO, "Optimum folder " + dir + " has no " + f
                        + " (an Optimum seq2seq export holds " + ENCODER + " and " + DECODER + ")");
            }
        }
    }

    public static ModelFiles of(Path path) {
        if (!Files.exists(path)) {
            throw new OnnxLoraException(ErrorCode.IO, "model " + path + " does not exist");
        }
        if (!Files.isDirectory(path)) {
            return new ModelFiles(path, false, List.of(path));
        }
        try (Stream<Path> s = Files.list(path)) {
            List<Path> files = s.filter(p -> p.getFileName().toString().endsWith(".onnx") && Files.isRegularFile(p))
                    .sorted().toList();
            if (files.isEmpty()) {
                throw new OnnxLoraException(ErrorCode.IO, "folder " + path + " contains no .onnx file");
            }
            return new ModelFiles(path, true, files);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + path + ": " + IoErrors.reason(e), e);
        }
    }

    /**
     * The Hugging Face config beside a model: {@code <name>.config.json} for {@code <name>.onnx} (several exports in
     * one folder), else the folder's {@code config.json}; for a folder, the {@code config.json} inside it.
     */
    public static java.util.Optional<Path> configOf(Path model) {
        if (model == null) {
            return java.util.Optional.empty();
        }
        if (Files.isDirectory(model)) {
            Path c = model.resolve("config.json");
            return Files.isRegularFile(c) ? java.util.Optional.of(c) : java.util.Optional.empty();
        }
        Path abs = model.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null) {
            return java.util.Optional.empty();
        }
        String stem = abs.getFileName().toString().replaceFirst("\\.onnx$", "");
        for (Path c : List.of(dir.resolve(stem + ".config.json"), dir.resolve("config.json"))) {
            if (Files.isRegularFile(c)) {
                return java.util.Optional.of(c);
            }
        }
        return java.util.Optional.empty();
    }

    /** Where the config of {@code out} (a single-file output) goes: {@code <name>.config.json} beside it. */
    public static Path configTarget(Path out) {
        return out.resolveSibling(out.getFileName().toString().replaceFirst("\\.onnx$", "") + ".config.json");
    }

    /** Where {@code file} goes under {@code out} (the same name in a folder, or {@code out} itself). */
    public Path target(Path file, Path out) {
        return directory ? out.resolve(root.relativize(file)) : out;
    }

    /**
     * Non-ONNX files of a folder (config, tokenizer), copied along so the output is a usable export; for a single
     * file, its config (see {@link #configOf}), which knows the model's pad and decoder-start ids.
     */
    public List<Path> companions() {
        if (!directory) {
            return configOf(root).map(List::of).orElse(List.of());
        }
        try (Stream<Path> s = Files.list(root)) {
            return s.filter(Files::isRegularFile)
                    .filter(p -> !p.getFileName().toString().endsWith(".onnx"))
                    .filter(p -> !p.getFileName().toString().endsWith(".onnx.data"))
                    .filter(p -> !p.getFileName().toString().endsWith(".onnx_data"))
                    .sorted().toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + root + ": " + IoErrors.reason(e), e);
        }
    }
}
