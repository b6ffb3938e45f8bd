package org.onnxlora.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Stream;

/** Folder helpers. */
public final class FileTrees {
    private FileTrees() {}

    /** Deletes {@code dir} and everything below it; nothing if it does not exist. */
    public static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        List<Path> paths;
        try (Stream<Path> s = Files.walk(dir)) {
            paths = new ArrayList<>(s.toList());
        }
        Collections.reverse(paths);
        for (Path p : paths) {
            Files.deleteIfExists(p);
        }
    }
}
