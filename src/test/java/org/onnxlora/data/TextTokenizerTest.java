package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.testing.Fixtures;

class TextTokenizerTest {
    private static TextTokenizer tok;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        tok = TextTokenizer.load(Fixtures.tokenizer());
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    @Test
    void specialTokensAndVocabularyComeFromTheFile() {
        assertEquals(new SpecialTokens(1, 0, 2, 3), tok.specialTokens());
        assertEquals(1, tok.padId());
        assertEquals(0, tok.bosId());
        assertEquals(2, tok.eosId());
        assertEquals(2048, tok.vocabSize());
    }

    /** Ids, truncated ids and decoded text from Hugging Face's tokenizers (tools/make_tokenizer_goldens.py). */
    @Test
    void matchesHuggingFaceTokenizers() throws IOException {
        JsonObject goldens;
        try (Reader r = new InputStreamReader(getClass().getResourceAsStream("tokenizer_goldens.json"), StandardCharsets.UTF_8)) {
            goldens = JsonParser.parseReader(r).getAsJsonObject();
        }
        int cut = goldens.get("truncate").getAsInt();
        List<String> texts = new ArrayList<>();
        List<long[]> expected = new ArrayList<>();
        for (JsonElement c : goldens.getAsJsonArray("cases")) {
            JsonObject o = c.getAsJsonObject();
            String text = o.get("text").getAsString();
            long[] ids = longs(o, "ids");
            texts.add(text);
            expected.add(ids);
            assertArrayEquals(ids, tok.encode(text, 10_000), text);
            assertArrayEquals(longs(o, "truncated"), tok.encode(text, cut), text);
            assertEquals(0, ids[0]);
            assertEquals(2, ids[ids.length - 1]);
            assertEquals(o.get("decoded").getAsString(), tok.decode(ids, true), text);
        }
        List<long[]> batch = tok.encodeAll(texts, 10_000);
        for (int i = 0; i < texts.size(); i++) {
            assertArrayEquals(expected.get(i), batch.get(i), texts.get(i));
        }
    }

    @Test
    void decodeRoundTripsTextAndKeepsSpecialsWhenAsked() {
        String text = "List directory contents, sorted by time (newest first).";
        long[] ids = tok.encode(text, 256);
        assertEquals(text, tok.decode(ids, true));
        assertEquals("<s>" + text + "</s>", tok.decode(ids, false));
    }

    @Test
    void truncationKeepsBothEnds() {
        long[] full = tok.encode("one two three four five six seven eight nine ten", 1000);
        long[] cut = tok.encode("one two three four five six seven eight nine ten", 5);
        assertArrayEquals(new long[] {full[0], full[1], full[2], full[3], 2}, cut);
        assertArrayEquals(cut, tok.truncate(full, 5));
        assertArrayEquals(new long[] {0, 2}, tok.encode("", 8));
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> tok.encode("x", 2));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
    }

    @Test
    void decodeRejectsIdsOutsideTheVocabulary() {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> tok.decode(new long[] {0, -100}, true));
        assertTrue(e.getMessage().contains("-100"), e.getMessage());
    }

    @Test
    void checkFitsComparesWithTheModelsEmbeddingRows() {
        tok.checkFits(2048);
        tok.checkFits(50265);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> tok.checkFits(1000));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("2048") && e.getMessage().contains("1000"), e.getMessage());
    }

    @Test
    void missingOrInvalidFilesAreNamed() throws IOException {
        Path missing = dir.resolve("nope/tokenizer.json");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> TextTokenizer.load(missing));
        assertEquals(ErrorCode.IO, e.code());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());

        Path garbage = Files.writeString(dir.resolve("garbage.json"), "{ not json");
        e = assertThrows(OnnxLoraException.class, () -> TextTokenizer.load(garbage));
        assertTrue(e.getMessage().contains(garbage.toString()), e.getMessage());

        Path notTokenizer = Files.writeString(dir.resolve("config.json"), "{\"d_model\": 64}");
        e = assertThrows(OnnxLoraException.class, () -> TextTokenizer.load(notTokenizer));
        assertTrue(e.getMessage().contains(notTokenizer.toString()), e.getMessage());

        // Valid JSON with a vocabulary, but a model type the Rust side rejects.
        Path badModel = Files.writeString(dir.resolve("bad.json"),
                "{\"added_tokens\": [], \"model\": {\"type\": \"Nonsense\", \"vocab\": {\"a\": 0}}}");
        e = assertThrows(OnnxLoraException.class, () -> TextTokenizer.load(badModel));
        assertTrue(e.getMessage().contains(badModel.toString()), e.getMessage());
    }

    @Test
    void nativeLibraryLoadsOfflineFromTheJar() {
        assertEquals("true", System.getProperty(DjlNatives.OFFLINE));
        assertEquals("true", System.getProperty(DjlNatives.TRACKING));
        Path cache = Path.of(DjlNatives.location());
        try (var files = Files.walk(cache)) {
            assertTrue(files.anyMatch(p -> p.getFileName().toString().equals(System.mapLibraryName("tokenizers"))),
                    "no native library under " + cache);
        } catch (IOException e) {
            throw new AssertionError("cannot list " + cache, e);
        }
    }

    @Test
    void cacheDirectoryMustBeWritable() throws IOException {
        assertTrue(DjlNatives.writable(dir.resolve("a/b")));
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertFalse(DjlNatives.writable(file.resolve("sub")), "a directory under a regular file cannot be made");
    }

    private static long[] longs(JsonObject o, String key) {
        var a = o.getAsJsonArray(key);
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }
}
