package org.onnxlora.run;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * The one-writer lock of a run folder: an OS file lock on {@code RUN/.lock}, held from
 * before the folder is touched until the run ends, and released by the OS if the
 * process dies (a killed run never leaves a stale lock). The file holds the holder's
 * pid so that a refused writer can say who has the folder.
 *
 * <p>POSIX drops every lock a process holds on a file when <em>any</em> of its
 * descriptors for that file is closed, so a second writer inside the same process is
 * refused from a table before it opens the file at all.
 */
public final class RunLock implements AutoCloseable {
    private static final Map<Path, Long> HELD_HERE = new ConcurrentHashMap<>();

    private final Path key;
    private final FileChannel channel;
    private final FileLock lock;

    private RunLock(Path key, FileChannel channel, FileLock lock) {
        this.key = key;
        this.channel = channel;
        this.lock = lock;
    }

    /** Locks {@code file} (created if missing) or fails naming the process that holds it. */
    public static RunLock acquire(Path file, Path runDir) {
        Path key = file.toAbsolutePath().normalize();
        try {
            key = file.getParent().toRealPath().resolve(file.getFileName());
        } catch (IOException e) {
            // the folder is created by the caller first; fall back to the normalised path
        }
        long self = ProcessHandle.current().pid();
        if (HELD_HERE.putIfAbsent(key, self) != null) {
            throw busy(runDir, self);
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                String holder = readPid(ch);
                ch.close();
                HELD_HERE.remove(key);
                throw busy(runDir, holder);
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((self + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            ch.force(false);
            return new RunLock(key, ch, l);
        } catch (IOException e) {
            HELD_HERE.remove(key);
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // already failing
                }
            }
            throw new OnnxLoraException(ErrorCode.IO, "cannot lock " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static String readPid(FileChannel ch) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(32);
        ch.read(b, 0);
        String s = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
        return s.matches("\\d{1,19}") ? s : null;
    }

    private static OnnxLoraException busy(Path runDir, Object pid) {
        return new OnnxLoraException(ErrorCode.IO, runDir + " is in use by another training process"
                + (pid == null ? "" : " (pid " + pid + ")") + "; wait for it to finish or stop it first");
    }

    @Override
    public void close() {
        try {
            if (lock.isValid()) {
                lock.release();
            }
            channel.close();
        } catch (IOException ignored) {
            // the OS releases the lock with the descriptor anyway
        } finally {
            HELD_HERE.remove(key);
        }
    }
}
