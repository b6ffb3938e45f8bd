package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Malformed UTF-8 is reported at the line that holds it, however far the decoder reads ahead. */
class Utf8LineNumbersTest {
    @TempDir
    Path dir;

    /** Long enough lines that the bad one lies several decoder buffers (8 KB) into the file. */
    private static String row(int i) {
        return "{\"source\": \"row " + i + " " + "text ".repeat(60) + "\", \"target\": \"t\u00e9 \uD83D\uDE00\"}";
    }

    private static byte[] jsonl(int lines, int badLine, String newline) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        for (int i = 1; i <= lines; i++) {
            String r = row(i);
            if (i == badLine) {
                int cut = r.indexOf("row") + 4;
                b.writeBytes(r.substring(0, cut).getBytes(StandardCharsets.UTF_8));
                b.write(0xFF);
                b.writeBytes(r.substring(cut).getBytes(StandardCharsets.UTF_8));
            } else {
                b.writeBytes(r.getBytes(StandardCharsets.UTF_8));
            }
            b.writeBytes(newline.getBytes(StandardCharsets.UTF_8));
        }
        return b.toByteArray();
    }

    private OnnxLoraException refused(Path f) {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(f, ReaderOptions.DEFAULT));
        assertEquals(ErrorCode.BAD_DATA, e.code());
        return e;
    }

    @Test
    void jsonlNamesTheLineAndColumnOfTheBadByte() throws IOException {
        for (String nl : new String[] {"\n", "\r\n", "\r"}) {
            Path f = Files.write(dir.resolve("bad.jsonl"), jsonl(120, 77, nl));
            OnnxLoraException e = refused(f);
            assertEquals(f + ":77: not valid UTF-8 (byte 0xFF at column 17)", e.getMessage(),
                    "line ending " + nl.replace("\r", "\\r").replace("\n", "\\n"));
        }
    }

    @Test
    void csvCountsPhysicalLinesAcrossQuotedLineBreaks() throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes("source,target\n".getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 40; i++) { // 40 records of 3 physical lines each: lines 2..121
            b.writeBytes(("\"first " + "x".repeat(200) + "\nsecond\nthird\",t\u00e9\n").getBytes(StandardCharsets.UTF_8));
        }
        b.writeBytes("ok,\u00e9".getBytes(StandardCharsets.UTF_8));
        b.write(0xC3); // a lead byte cut off by the end of the line
        b.writeBytes("\n".getBytes(StandardCharsets.UTF_8));
        Path f = Files.write(dir.resolve("bad.csv"), b.toByteArray());
        assertEquals(f + ":122: not valid UTF-8 (byte 0xC3 at column 5)", refused(f).getMessage());
    }

    @Test
    void aTruncatedCharacterAtTheEndOfTheFileIsOnTheLastLine() throws IOException {
        byte[] good = jsonl(60, -1, "\n");
        byte[] bytes = java.util.Arrays.copyOf(good, good.length + 1);
        bytes[good.length] = (byte) 0xE2; // first of three bytes, then nothing
        Path f = Files.write(dir.resolve("cut.jsonl"), bytes);
        OnnxLoraException e = refused(f);
        assertTrue(e.getMessage().startsWith(f + ":61: not valid UTF-8"), e.getMessage());
    }

    @Test
    void validTextIsReadWhole() throws IOException {
        byte[] body = jsonl(200, -1, "\r\n");
        byte[] withBom = new byte[body.length + 3];
        withBom[0] = (byte) 0xEF;
        withBom[1] = (byte) 0xBB;
        withBom[2] = (byte) 0xBF;
        System.arraycopy(body, 0, withBom, 3, body.length);
        Path f = Files.write(dir.resolve("good.jsonl"), withBom);
        ReadResult r = DataReader.read(f, ReaderOptions.DEFAULT);
        assertEquals(200, r.rows().size());
        assertEquals(200, r.rows().get(199).line());
        assertEquals("t\u00e9 \uD83D\uDE00", r.rows().get(0).target());
    }
}
