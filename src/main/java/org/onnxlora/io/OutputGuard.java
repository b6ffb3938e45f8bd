package org.onnxlora.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Refuses outputs that would destroy something the user owns. */
public final class OutputGuard {
    private OutputGuard() {}

    /**
     * {@code out} must not be (or contain, or sit inside) any input, and must not exist
     * unless {@code force}; a directory output counts as existing when it is non-empty.
     */
    public static void check(Path out, boolean force, Path... inputs) {
        Path o = canonical(out);
        for (Path in : inputs) {
            if (in == null) {
                continue;
            }
            Path i = canonical(in);
            if (o.equals(i)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT,
                        "--out " + out + " is the input itself; onnx-lora never modifies its inputs, choose another path");
            }
            if (Files.isDirectory(i) && o.startsWith(i) && !Files.isDirectory(out)) {
                continue; // a new file inside an input folder is fine (e.g. RUN/merged.onnx)
            }
        }
        if (Files.exists(out) && !force) {
            boolean emptyDir = false;
            if (Files.isDirectory(out)) {
                try (Stream<Path> s = Files.list(out)) {
                    emptyDir = s.findAny().isEmpty();
                } catch (IOException e) {
                    emptyDir = false;
                }
            }
            if (!emptyDir) {
                throw new OnnxLoraException(ErrorCode.IO, out + " already exists; pass --force to overwrite it");
            }
        }
    }

    private static Path canonical(Path p) {
        try {
            return Files.exists(p) ? p.toRealPath() : p.toAbsolutePath().normalize();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }
}
