package org.onnxlora.parallel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;

/**
 * A rendezvous through a folder every member can read (one machine, or a shared file system):
 * each member writes {@code rank-N} atomically and waits for the others' files. For launches
 * without a cluster manager (several JVMs on one host, the benchmark); the folder must be fresh
 * per job, since files left by an earlier job would be taken for members of this one.
 */
public final class FolderExchange implements AddressExchange {
    private final Path folder;
    private final int size;
    private final Duration timeout;

    public FolderExchange(Path folder, int size, Duration timeout) {
        this.folder = folder;
        this.size = size;
        this.timeout = timeout;
    }

    @Override
    public List<String> allGather(int rank, String message) {
        try {
            AtomicFiles.writeString(folder.resolve("rank-" + rank), message);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot publish the all-reduce address in " + folder + ": "
                    + IoErrors.reason(e), e);
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        List<String> all = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            Path f = folder.resolve("rank-" + i);
            while (true) {
                try {
                    all.add(Files.readString(f, StandardCharsets.UTF_8));
                    break;
                } catch (NoSuchFileException e) {
                    if (System.nanoTime() > deadline) {
                        throw new OnnxLoraException(ErrorCode.COLLECTIVE, "rank " + i + " did not publish its address in "
                                + folder + " within " + timeout.toSeconds() + " s");
                    }
                    pause();
                } catch (IOException e) {
                    throw new OnnxLoraException(ErrorCode.IO, "cannot read " + f + ": " + IoErrors.reason(e), e);
                }
            }
        }
        return all;
    }

    private static void pause() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "interrupted at the all-reduce rendezvous", e);
        }
    }
}
