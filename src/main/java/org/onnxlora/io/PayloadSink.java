package org.onnxlora.io;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The output side of a save. Small things (protobuf framing, graph, small tensors) go
 * through one buffer; large byte payloads skip it:
 * <ul>
 *   <li>a view of a mapped file ({@link MappedSources}) is copied file-to-file with
 *       {@code FileChannel.transferTo} (sendfile/copy_file_range: in the kernel, like
 *       {@code cp}; the source pages are never mapped into this process);</li>
 *   <li>anything else (a merged weight on the heap, a view whose file was replaced) is
 *       handed to the channel directly, one copy instead of protobuf's stream chain.</li>
 * </ul>
 * Does not own the output channel; {@link #close} flushes and releases the source files.
 */
final class PayloadSink implements AutoCloseable {
    /** Payloads from this size on bypass the buffer; below it a syscall costs more than the copy. */
    static final int DIRECT_MIN = 16 << 10;
    private static final int BUFFER = 1 << 20;
    /** The JDK copies a heap buffer into a temporary direct buffer of its full size; bound that. */
    private static final int HEAP_CHUNK = 8 << 20;

    /** What a save wrote: all bytes, and how many of them were copied inside the kernel. */
    record Stats(long bytes, long copiedInKernel) {}

    private final FileChannel out;
    private final CodedOutputStream buffered;
    /** Source files by (path, file key); empty when the path no longer names the mapped file. */
    private final Map<List<Object>, Optional<FileChannel>> sources = new HashMap<>();
    private long direct;
    private long inKernel;

    PayloadSink(FileChannel out) {
        this.out = out;
        // The stream is never closed: that would close the channel, which the caller still has to force.
        this.buffered = CodedOutputStream.newInstance(Channels.newOutputStream(out), BUFFER);
    }

    /** For framing and small fields; flushed before every direct payload. */
    CodedOutputStream buffered() {
        return buffered;
    }

    /** Appends {@code bytes} to the output. */
    void payload(ByteString bytes) throws IOException {
        if (bytes.size() < DIRECT_MIN) {
            buffered.writeRawBytes(bytes);
            return;
        }
        buffered.flush();
        direct += bytes.size();
        MappedSources.Region r = MappedSources.lookup(bytes);
        FileChannel src = r == null ? null : source(r);
        if (src != null && src.size() >= r.offset() + r.length()) {
            transfer(src, r);
            inKernel += r.length();
        } else {
            write(bytes);
        }
    }

    Stats stats() {
        return new Stats(buffered.getTotalBytesWritten() + direct, inKernel);
    }

    private void transfer(FileChannel src, MappedSources.Region r) throws IOException {
        long at = r.offset();
        long end = r.offset() + r.length();
        while (at < end) {
            long n = src.transferTo(at, end - at, out);
            if (n <= 0) {
                throw new IOException(r.file() + " ended at byte " + at + " while being copied (truncated meanwhile?)");
            }
            at += n;
        }
    }

    private void write(ByteString bytes) throws IOException {
        for (ByteBuffer b : bytes.asReadOnlyByteBufferList()) {
            int step = b.isDirect() ? Integer.MAX_VALUE : HEAP_CHUNK;
            while (b.hasRemaining()) {
                ByteBuffer part = b.slice();
                part.limit(Math.min(step, part.remaining()));
                int n = part.remaining();
                while (part.hasRemaining()) {
                    out.write(part);
                }
                b.position(b.position() + n);
            }
        }
    }

    /**
     * The open source file, if its path still names the file that was mapped (same
     * device and inode). Java 17 cannot stat an open channel, so the path is checked
     * right after opening it; a swap in between would need the old inode to be renamed
     * back, which no writer does.
     */
    private FileChannel source(MappedSources.Region r) {
        return sources.computeIfAbsent(List.of(r.file(), r.fileKey()), id -> {
            Path p = r.file();
            FileChannel ch = null;
            try {
                ch = FileChannel.open(p, StandardOpenOption.READ);
                Object key = Files.readAttributes(p, BasicFileAttributes.class).fileKey();
                if (key != null && key.equals(r.fileKey())) {
                    return Optional.of(ch);
                }
            } catch (IOException e) {
                // gone or unreadable: write from the mapping instead
            }
            closeQuietly(ch);
            return Optional.empty();
        }).orElse(null);
    }

    @Override
    public void close() throws IOException {
        try {
            buffered.flush();
        } finally {
            sources.values().forEach(c -> closeQuietly(c.orElse(null)));
            sources.clear();
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // read-only: nothing is lost
            }
        }
    }
}
