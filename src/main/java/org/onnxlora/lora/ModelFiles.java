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

    /** Where {@code file} goes under {@code out} (the same name in a folder, or {@code out} itself). */
    public Path target(Path file, Path out) {
        return directory ? out.resolve(root.relativize(file)) : out;
    }

    /** Non-ONNX files of a folder (config, tokenizer), copied along so the output is a usable export. */
    public List<Path> companions() {
        if (!directory) {
            return List.of();
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
