package org.onnxlora.tensorboard;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.TensorBoard.Event;

/** TFRecord framing and CRCs, event files read back, damage found, torn tails tolerated. */
class EventFilesTest {
    @TempDir
    Path tmp;

    @Test
    void crc32cIsCastagnoliAndMaskedAsTensorFlowDoes() {
        // RFC 3720 B.4: 32 zero bytes have CRC32C 0x8a9136aa; the mask is a 15-bit rotation plus 0xa282ead8
        int crc = 0x8a9136aa;
        int masked = ((crc >>> 15) | (crc << 17)) + 0xa282ead8;
        assertEquals(masked, RecordFraming.maskedCrc32c(new byte[32], 0, 32));
        byte[] ff = new byte[32];
        Arrays.fill(ff, (byte) 0xff);
        int crcFf = 0x62a8ab43;
        assertEquals(((crcFf >>> 15) | (crcFf << 17)) + 0xa282ead8, RecordFraming.maskedCrc32c(ff, 0, 32));
    }

    @Test
    void recordLayoutIsLengthCrcDataCrcLittleEndian() throws Exception {
        byte[] data = "hello".getBytes();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        RecordFraming.write(out, data);
        byte[] r = out.toByteArray();
        assertEquals(8 + 4 + 5 + 4, r.length);
        ByteBuffer b = ByteBuffer.wrap(r).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(5L, b.getLong(0));
        assertEquals(RecordFraming.maskedCrc32c(r, 0, 8), b.getInt(8));
        assertEquals("hello", new String(r, 12, 5));
        assertEquals(RecordFraming.maskedCrc32c(data, 0, 5), b.getInt(17));
        assertEquals("hello", new String(RecordFraming.read(new ByteArrayInputStream(r)).orElseThrow()));

        for (int flip : new int[] {3, 9, 13, 18}) {
            byte[] bad = r.clone();
            bad[flip] ^= 1;
            assertThrows(RecordFraming.CorruptRecordException.class,
                    () -> RecordFraming.read(new ByteArrayInputStream(bad)), "byte " + flip);
        }
        assertThrows(EOFException.class, () -> RecordFraming.read(new ByteArrayInputStream(Arrays.copyOf(r, 15))));
    }

    @Test
    void writtenEventsReadBackAndDamageIsNamed() throws Exception {
        Path f;
        try (EventWriter w = EventWriter.create(tmp)) {
            w.scalars(3, Map.of("train/loss", 2.5));
            w.text(3, "config", "| a | b |");
            f = w.file();
        }
        assertTrue(f.getFileName().toString().startsWith("events.out.tfevents."));
        EventFileReader.Contents c = EventFileReader.read(f);
        assertFalse(c.tornTail());
        assertEquals(3, c.events().size());
        assertEquals("brain.Event:2", c.events().get(0).getFileVersion());
        Event s = c.events().get(1);
        assertEquals(3, s.getStep());
        assertEquals(2.5f, s.getSummary().getValue(0).getSimpleValue());
        Event t = c.events().get(2);
        assertEquals("text", t.getSummary().getValue(0).getMetadata().getPluginData().getPluginName());
        assertEquals("| a | b |", t.getSummary().getValue(0).getTensor().getStringVal(0).toStringUtf8());

        byte[] bytes = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(bytes, bytes.length - 3));
        EventFileReader.Contents torn = EventFileReader.read(f);
        assertTrue(torn.tornTail());
        assertEquals(2, torn.events().size());

        bytes[bytes.length - 10] ^= 0x40;
        Files.write(f, bytes);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> EventFileReader.read(f));
        assertTrue(e.getMessage().contains("damaged at byte"), e.getMessage());
    }

    @Test
    void continuingAfterAStepDropsTheRedoneStepsAndStartsANewFile() throws Exception {
        Path dir = tmp.resolve("tb");
        Path first;
        try (EventWriter w = EventFolder.continueAfter(dir, 0)) {
            for (int s = 1; s <= 6; s++) {
                w.scalars(s, Map.of("train/loss", (double) s));
            }
            first = w.file();
        }
        ByteArrayOutputStream rec = new ByteArrayOutputStream();
        RecordFraming.write(rec, Event.newBuilder().setStep(7).build().toByteArray());
        // a record of step 7 cut after 15 bytes: the process was killed mid-write
        Files.write(first, Arrays.copyOf(rec.toByteArray(), 15), java.nio.file.StandardOpenOption.APPEND);
        assertTrue(EventFileReader.read(first).tornTail());
        try (EventWriter w = EventFolder.continueAfter(dir, 4)) {
            for (int s = 5; s <= 8; s++) {
                w.scalars(s, Map.of("train/loss", 10.0 + s));
            }
        }
        List<Path> files = EventFileReader.files(dir);
        assertEquals(2, files.size());
        assertEquals(first, files.get(0));
        List<Event> all = files.stream().flatMap(f -> EventFileReader.read(f).events().stream())
                .filter(Event::hasSummary).toList();
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L), all.stream().map(Event::getStep).toList());
        assertEquals(15f, all.get(4).getSummary().getValue(0).getSimpleValue(), "step 5 comes from the resumed file");
        assertFalse(EventFileReader.read(first).tornTail(), "the torn tail was cut");

        try (EventWriter w = EventFolder.continueAfter(dir, 0)) {
            w.scalars(1, Map.of("train/loss", 1.0));
        }
        assertEquals(1, EventFileReader.files(dir).size(), "a run started over keeps no old events");
    }
}
