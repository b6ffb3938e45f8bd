package org.onnxlora.tensorboard;

import com.google.protobuf.InvalidProtocolBufferException;
import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;
import org.onnxlora.proto.TensorBoard.Event;

/**
 * Reads TensorBoard event files back, checking the framing and both CRCs of every
 * record. A file that ends inside a record (its writer was killed) yields the events
 * before the cut and says so; a CRC mismatch is damage and an error naming the file
 * and the byte offset.
 */
public final class EventFileReader {
    /** A file's events, and whether it ended inside a record. */
    public record Contents(Path file, List<Event> events, boolean tornTail) {}

    private EventFileReader() {}

    public static Contents read(Path file) {
        List<Event> events = new ArrayList<>();
        long offset = 0;
        try (InputStream in = new CountingStream(new BufferedInputStream(Files.newInputStream(file)))) {
            CountingStream counted = (CountingStream) in;
            while (true) {
                offset = counted.count;
                Optional<byte[]> r;
                try {
                    r = RecordFraming.read(in);
                } catch (EOFException torn) {
                    return new Contents(file, events, true);
                }
                if (r.isEmpty()) {
                    return new Contents(file, events, false);
                }
                events.add(Event.parseFrom(r.get()));
            }
        } catch (RecordFraming.CorruptRecordException | InvalidProtocolBufferException e) {
            throw new OnnxLoraException(ErrorCode.IO, file + " is damaged at byte " + offset + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** The event files in {@code dir}, oldest first (their names start with the creation time). */
    public static List<Path> files(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith(EventWriter.FILE_PREFIX))
                    .sorted(EventFileReader::byCreation).toList();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot list " + dir + ": " + IoErrors.reason(e), e);
        }
    }

    /** Creation second, then the writer's sequence number (both numeric: "10" after "9"), then the name. */
    private static int byCreation(Path a, Path b) {
        String[] x = a.getFileName().toString().substring(EventWriter.FILE_PREFIX.length()).split("\\.");
        String[] y = b.getFileName().toString().substring(EventWriter.FILE_PREFIX.length()).split("\\.");
        int c = Long.compare(number(x[0]), number(y[0]));
        if (c == 0) {
            c = Long.compare(number(x[x.length - 1]), number(y[y.length - 1]));
        }
        return c != 0 ? c : a.compareTo(b);
    }

    private static long number(String s) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException e) {
            return Long.MAX_VALUE;
        }
    }

    private static final class CountingStream extends java.io.FilterInputStream {
        long count;

        CountingStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count += n;
            }
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            long k = super.skip(n);
            count += k;
            return k;
        }
    }
}
