package org.onnxlora.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a file so that readers see either the old content or the complete new
 * one: write a temporary sibling, force it to disk, rename it over the target.
 * A crash leaves at most a stray {@code .tmp} file, never a half-written output.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Writes the body of a file; may return a value computed while writing. */
    @FunctionalInterface
    public interface Body<T> {
        T write(OutputStream out) throws IOException;
    }

    /** Writes the body of a file to its channel (for in-kernel copies); must not close it. */
    @FunctionalInterface
    public interface ChannelBody<T> {
        T write(FileChannel out) throws IOException;
    }

    public static <T> T write(Path target, Body<T> body) throws IOException {
        return writeChannel(target, ch -> {
            // Not closed: closing the stream would close the channel before it is forced.
            OutputStream os = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 20);
            T result = body.write(os);
            os.flush();
            return result;
        });
    }

    public static <T> T writeChannel(Path target, ChannelBody<T> body) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".tmp");
        // createTempFile makes the file private (0600); the result should look like any other output
        // (the existing target's permissions, or rw-r--r--).
        try {
            Files.setPosixFilePermissions(tmp, Files.exists(target) ? Files.getPosixFilePermissions(target)
                    : java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        } catch (UnsupportedOperationException e) {
            // not a POSIX file system: keep the defaults
        }
        boolean done = false;
        try {
            T result;
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                result = body.write(ch);
                ch.force(false);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
            return result;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    public static void writeString(Path target, String text) throws IOException {
        write(target, os -> {
            os.write(text.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            return null;
        });
    }
}
