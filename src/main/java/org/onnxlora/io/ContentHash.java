package org.onnxlora.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * SHA-256 of what a file says, streamed once: the identity of a model or data file
 * (a path and a size say nothing about an edit in place).
 */
public final class ContentHash {
    private static final int CHUNK = 1 << 20;

    private ContentHash() {}

    /** The hex SHA-256 of {@code file}'s bytes. */
    public static String of(Path file) {
        MessageDigest md = sha256();
        update(md, file);
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * The hex SHA-256 of an ONNX model: its own bytes, then each external data file's
     * location and bytes, so moving weights between files or editing one is a change.
     */
    public static String ofModel(Path model) {
        MessageDigest md = sha256();
        if (Files.isDirectory(model)) {
            // an Optimum folder: every file it holds, by name, is part of the model
            for (Path f : folderFiles(model)) {
                md.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
                md.update((byte) 0);
                update(md, f);
            }
            return HexFormat.of().formatHex(md.digest());
        }
        update(md, model);
        for (Path data : ExternalDataFiles.of(model)) {
            md.update(data.getFileName().toString().getBytes(StandardCharsets.UTF_8));
            md.update((byte) 0);
            update(md, data);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** The regular files of a model folder, in name order (what {@link #ofModel} hashes for a folder). */
    public static List<Path> folderFiles(Path folder) {
        try (Stream<Path> files = Files.list(folder)) {
            return files.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + folder + ": " + IoErrors.reason(e), e);
        }
    }

    private static void update(MessageDigest md, Path file) {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (ch.read(buf) >= 0) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO, file + " does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
