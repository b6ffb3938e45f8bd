package org.onnxlora.tensorboard;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Optional;
import java.util.zip.CRC32C;

/**
 * TFRecord framing, the container of TensorBoard event files: each record is
 * {@code uint64 length, uint32 masked_crc32c(length), byte[length] data, uint32 masked_crc32c(data)},
 * little-endian. The CRCs are masked (rotated and offset) because a CRC of bytes that
 * themselves contain CRCs is weak; TensorFlow, TensorBoard and LevelDB use the same mask.
 */
public final class RecordFraming {
    private static final int MASK_DELTA = 0xa282ead8;

    private RecordFraming() {}

    /** CRC32C (Castagnoli) of {@code b[off, off+len)}, masked as TFRecord stores it. */
    public static int maskedCrc32c(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return mask((int) c.getValue());
    }

    static int mask(int crc) {
        return ((crc >>> 15) | (crc << 17)) + MASK_DELTA;
    }

    /** Writes one framed record; the caller flushes. */
    public static void write(OutputStream out, byte[] data) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        header.putLong(data.length);
        header.putInt(maskedCrc32c(header.array(), 0, 8));
        ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        footer.putInt(maskedCrc32c(data, 0, data.length));
        out.write(header.array());
        out.write(data);
        out.write(footer.array());
    }

    /** A record's framing does not check out: the file is damaged (not merely cut short). */
    public static final class CorruptRecordException extends IOException {
        public CorruptRecordException(String message) {
            super(message);
        }
    }

    /**
     * Reads the next record, checking both CRCs. Empty at a clean end of the stream;
     * {@link EOFException} when the stream ends inside a record (a writer killed mid-write);
     * {@link CorruptRecordException} when a CRC does not match.
     */
    public static Optional<byte[]> read(InputStream in) throws IOException {
        byte[] header = new byte[12];
        int got = in.readNBytes(header, 0, 12);
        if (got == 0) {
            return Optional.empty();
        }
        if (got < 12) {
            throw new EOFException("the stream ends inside a record header (" + got + " of 12 bytes)");
        }
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        long length = h.getLong(0);
        if (h.getInt(8) != maskedCrc32c(header, 0, 8)) {
            throw new CorruptRecordException("the CRC of a record's length does not match");
        }
        if (length < 0 || length > Integer.MAX_VALUE - 8) {
            throw new CorruptRecordException("a record claims " + Long.toUnsignedString(length) + " bytes");
        }
        byte[] data = in.readNBytes((int) length);
        if (data.length < length) {
            throw new EOFException("the stream ends inside a record (" + data.length + " of " + length + " bytes)");
        }
        byte[] footer = in.readNBytes(4);
        if (footer.length < 4) {
            throw new EOFException("the stream ends before a record's data CRC");
        }
        if (ByteBuffer.wrap(footer).order(ByteOrder.LITTLE_ENDIAN).getInt() != maskedCrc32c(data, 0, data.length)) {
            throw new CorruptRecordException("the CRC of a record's data does not match");
        }
        return Optional.of(data);
    }
}
