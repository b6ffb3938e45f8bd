package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

class DataReaderTest {
    static final Path MANPAGES = Path.of("models", "datasets", "manpages");

    @TempDir
    Path dir;

    @Test
    void readsTheBundledSplits() {
        assertEquals(2834, DataReader.read(MANPAGES.resolve("train.jsonl"), ReaderOptions.DEFAULT).rows().size());
        assertEquals(152, DataReader.read(MANPAGES.resolve("valid.jsonl"), ReaderOptions.DEFAULT).rows().size());
        ReadResult test = DataReader.read(MANPAGES.resolve("test.jsonl"), ReaderOptions.DEFAULT);
        assertEquals(143, test.rows().size());
        assertEquals(0, test.skippedRows());
        assertEquals(1, test.rows().get(0).line());
        // Other fields of the file can serve as source or target.
        ReadResult names = DataReader.read(MANPAGES.resolve("test.jsonl"), ReaderOptions.DEFAULT.withFields("name", "target"));
        assertEquals(143, names.rows().size());
    }

    @Test
    void jsonlBadRowsNameFileAndLine() throws IOException {
        String good = "{\"source\": \"a\", \"target\": \"b\"}\n";
        assertBadRow(good + "{\"source\": \"a\", \"target\": \n", 2, "invalid JSON");
        assertBadRow(good + "\n{\"source\": \"a\"}\n", 3, "missing field 'target'");
        assertBadRow(good + "{\"source\": 5, \"target\": \"b\"}\n", 2, "field 'source' is a number, not a string");
        assertBadRow(good + "{\"source\": \"a\", \"target\": null}\n", 2, "field 'target' is null");
        assertBadRow(good + "{\"source\": \"  \", \"target\": \"b\"}\n", 2, "field 'source' is empty");
        assertBadRow(good + "[1, 2]\n", 2, "not a JSON object");
        assertBadRow(good + "{source: \"a\", \"target\": \"b\"}\n", 2, "invalid JSON");
        assertBadRow(good + "{\"source\": \"a\", \"target\": \"b\"} {}\n", 2, "invalid JSON");
    }

    private void assertBadRow(String content, int line, String what) throws IOException {
        Path f = Files.writeString(dir.resolve("bad.jsonl"), content);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(f, ReaderOptions.DEFAULT));
        assertEquals(ErrorCode.BAD_DATA, e.code());
        assertTrue(e.getMessage().startsWith(f + ":" + line + ": " + what), e.getMessage());
    }

    @Test
    void skippingBadRowsCountsThem() throws IOException {
        Path f = Files.writeString(dir.resolve("mixed.jsonl"), String.join("\n",
                "{\"source\": \"a\", \"target\": \"b\"}",
                "not json",
                "{\"source\": \"c\", \"target\": 1}",
                "",
                "{\"source\": \"\", \"target\": \"d\"}",
                "{\"source\": \"e\", \"target\": \"f\"}",
                "{\"source\": \"g\"}") + "\n");
        ReadResult r = DataReader.read(f, ReaderOptions.DEFAULT.withSkipBadRows(true));
        assertEquals(List.of(new TextPair("a", "b", 1), new TextPair("e", "f", 6)), r.rows());
        assertEquals(4, r.skippedRows());
        assertEquals(List.of(f + ":2: ", f + ":3: ", f + ":5: ", f + ":7: "),
                r.skipReasons().stream().map(s -> s.substring(0, s.indexOf(": ") + 2)).toList());
    }

    @Test
    void csvAndTsvWithQuotedFields() throws IOException {
        Path csv = Files.writeString(dir.resolve("pairs.csv"),
                "\uFEFFid,source,target\r\n"
                        + "1,plain,\"has, comma\"\r\n"
                        + "2,\"two\r\nlines\",\"say \"\"hi\"\"\"\r\n"
                        + "\r\n"
                        + "3,\"\",x\r\n"
                        + "4,last,row");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(csv, ReaderOptions.DEFAULT));
        assertEquals(csv + ":6: field 'source' is empty", e.getMessage());
        ReadResult r = DataReader.read(csv, ReaderOptions.DEFAULT.withSkipBadRows(true));
        assertEquals(List.of(
                new TextPair("plain", "has, comma", 2),
                new TextPair("two\r\nlines", "say \"hi\"", 3),
                new TextPair("last", "row", 7)), r.rows());
        assertEquals(1, r.skippedRows());

        Path tsv = Files.writeString(dir.resolve("pairs.tsv"),
                "source\ttarget\n"
                        + "tab\\tescaped?\t\"a\tquoted tab\"\n"
                        + "\"multi\nline\"\tok\n"
                        + "x\ty\tz\n"
                        + "after\tthe bad one\n");
        ReadResult t = DataReader.read(tsv, ReaderOptions.DEFAULT.withSkipBadRows(true));
        assertEquals(List.of(
                new TextPair("tab\\tescaped?", "a\tquoted tab", 2),
                new TextPair("multi\nline", "ok", 3),
                new TextPair("after", "the bad one", 6)), t.rows());
        assertEquals(List.of(tsv + ":5: has 3 fields, the header has 2 (a tab inside a text must be quoted)"), t.skipReasons());
    }

    @Test
    void malformedQuotesInCsv() throws IOException {
        Path stray = Files.writeString(dir.resolve("stray.csv"), "source,target\n\"a\"b,c\nd,e\n");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(stray, ReaderOptions.DEFAULT));
        assertTrue(e.getMessage().startsWith(stray + ":2: unexpected text after a closing quote"), e.getMessage());
        assertEquals(List.of(new TextPair("d", "e", 3)),
                DataReader.read(stray, ReaderOptions.DEFAULT.withSkipBadRows(true)).rows());

        // An unterminated quote swallows the rest of the file: fatal even when skipping.
        Path open = Files.writeString(dir.resolve("open.csv"), "source,target\na,b\nc,\"d\ne,f\n");
        e = assertThrows(OnnxLoraException.class,
                () -> DataReader.read(open, ReaderOptions.DEFAULT.withSkipBadRows(true)));
        assertTrue(e.getMessage().startsWith(open + ":3: unterminated quoted field"), e.getMessage());
    }

    @Test
    void unknownFieldListsTheFieldsThatExist() throws IOException {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(
                MANPAGES.resolve("valid.jsonl"), ReaderOptions.DEFAULT.withFields("text", "target").withSkipBadRows(true)));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("no field 'text'"), e.getMessage());
        assertTrue(e.getMessage().contains("'name', 'source', 'target'"), e.getMessage());

        Path csv = Files.writeString(dir.resolve("h.csv"), "input,output\na,b\n");
        e = assertThrows(OnnxLoraException.class, () -> DataReader.read(csv, ReaderOptions.DEFAULT));
        assertEquals(csv + ": no field 'source'; the first row has: 'input', 'output'", e.getMessage());
        assertEquals(1, DataReader.read(csv, ReaderOptions.DEFAULT.withFields("input", "output")).rows().size());
    }

    @Test
    void emptyDataIsAnError() throws IOException {
        for (String name : List.of("empty.jsonl", "blank.jsonl", "header-only.csv", "empty.tsv")) {
            Path f = Files.writeString(dir.resolve(name), name.startsWith("blank") ? "\n  \n" : name.startsWith("header") ? "source,target\n" : "");
            OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(f, ReaderOptions.DEFAULT));
            assertEquals(ErrorCode.BAD_DATA, e.code());
            assertTrue(e.getMessage().startsWith(f + ": no rows"), e.getMessage());
        }
        Path allBad = Files.writeString(dir.resolve("bad.jsonl"),
                "{\"source\": \"a\", \"target\": \"\"}\n{\"source\": \"b\"}\n");
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> DataReader.read(allBad, ReaderOptions.DEFAULT.withSkipBadRows(true)));
        assertTrue(e.getMessage().startsWith(allBad + ": no usable rows; all 2 rows are bad"), e.getMessage());
    }

    @Test
    void formatByExtensionOrExplicit() throws IOException {
        Path noExt = Files.writeString(dir.resolve("data.txt"), "source\ttarget\na\tb\n");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(noExt, ReaderOptions.DEFAULT));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertEquals(List.of(new TextPair("a", "b", 2)),
                DataReader.read(noExt, ReaderOptions.DEFAULT.withFormat(DataFormat.parse("TSV"))).rows());
        assertThrows(OnnxLoraException.class, () -> DataFormat.parse("parquet"));

        Path missing = dir.resolve("missing.jsonl");
        e = assertThrows(OnnxLoraException.class, () -> DataReader.read(missing, ReaderOptions.DEFAULT));
        assertEquals(ErrorCode.IO, e.code());
        assertTrue(e.getMessage().contains(missing.toString()));
    }

    @Test
    void invalidUtf8IsBadData() throws IOException {
        Path f = dir.resolve("latin1.jsonl");
        Files.write(f, "{\"source\": \"caf\u00e9\", \"target\": \"x\"}\n".getBytes(StandardCharsets.ISO_8859_1));
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> DataReader.read(f, ReaderOptions.DEFAULT));
        assertEquals(ErrorCode.BAD_DATA, e.code());
        assertTrue(e.getMessage().contains("UTF-8"), e.getMessage());
    }
}
