package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
import org.onnxlora.testing.Fixtures;

/** The on-disk token cache and parallel tokenization, on the bundled man-page pairs. */
class TokenCacheTest {
    private static final Path VALID = DataReaderTest.MANPAGES.resolve("valid.jsonl");
    private static TextTokenizer tok;
    private static DataConfig config;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        tok = TextTokenizer.load(Fixtures.tokenizer());
        config = DataConfig.forTokenizer(tok).withMaxLengths(48, 12);
    }

    @AfterAll
    static void close() {
        tok.close();
    }

    @Test
    void secondLoadIsAHitWithTheSameData() {
        TokenCache cache = new TokenCache(dir.resolve("cache"));
        TokenCache.Loaded first = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertEquals(TokenCache.Outcome.MISS, first.outcome());
        assertTrue(Files.isRegularFile(first.entry()));
        Dataset direct = Dataset.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertDatasetsEqual(direct, first.dataset());
        TokenCache.Loaded second = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertEquals(TokenCache.Outcome.HIT, second.outcome());
        assertEquals(first.entry(), second.entry());
        assertDatasetsEqual(direct, second.dataset());
        assertTrue(direct.truncatedSources() > 0 && direct.truncatedTargets() > 0); // the counts round-trip too
    }

    @Test
    void aHitComesFromTheEntryNotFromTokenizing() throws Exception {
        TokenCache cache = new TokenCache(dir);
        TokenCache.Loaded first = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        // A valid entry with other content under the same key: a hit must return it verbatim.
        Dataset planted = new Dataset(List.of(new Seq2SeqExample(new long[] {0, 5, 2}, new long[] {0, 6, 2})), 3,
                List.of("x.jsonl:7: field 'target' is empty"), 0, 1);
        TokenCacheFile.write(first.entry(), key(ReaderOptions.DEFAULT, config), planted);
        TokenCache.Loaded again = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertEquals(TokenCache.Outcome.HIT, again.outcome());
        assertDatasetsEqual(planted, again.dataset());
    }

    @Test
    void damagedEntriesAreRebuilt() throws Exception {
        TokenCache cache = new TokenCache(dir);
        Dataset direct = Dataset.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        Path entry = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE).entry();
        byte[] good = Files.readAllBytes(entry);
        List<Consumer<byte[]>> damages = List.of(
                b -> b[b.length / 2] ^= 0x10, // an id: only the checksum sees it
                b -> b[b.length - 1] ^= 0x01, // the checksum
                b -> b[3] = 'X', // magic
                b -> b[11] = 9, // version
                b -> b[20] ^= 0x01, // key
                b -> b[8 + 4 + 32 + 3] ^= 0x40); // example count
        for (int i = 0; i < damages.size(); i++) {
            byte[] bad = good.clone();
            damages.get(i).accept(bad);
            Files.write(entry, bad);
            assertRebuilt(cache, entry, good, direct, "damage " + i);
        }
        Files.write(entry, Arrays.copyOf(good, good.length - 5)); // cut short
        assertRebuilt(cache, entry, good, direct, "truncated");
        Files.write(entry, Arrays.copyOf(good, good.length + 3)); // trailing bytes
        assertRebuilt(cache, entry, good, direct, "extended");
        Files.write(entry, new byte[0]);
        assertRebuilt(cache, entry, good, direct, "empty");
        // An entry of other data renamed to this key.
        Path otherEntry = cache.load(DataReaderTest.MANPAGES.resolve("test.jsonl"), ReaderOptions.DEFAULT, tok, config,
                Progress.NONE).entry();
        Files.copy(otherEntry, entry, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertRebuilt(cache, entry, good, direct, "foreign");
    }

    @Test
    void everyInputOfTheResultIsInTheKey() throws IOException {
        byte[] base = key(ReaderOptions.DEFAULT, config);
        assertEquals(HexFormat.of().formatHex(base), HexFormat.of().formatHex(key(ReaderOptions.DEFAULT, config)));
        assertNotEquals(HexFormat.of().formatHex(base), HexFormat.of().formatHex(key(ReaderOptions.DEFAULT,
                config.withMaxLengths(48, 13))));
        assertNotEquals(HexFormat.of().formatHex(base), HexFormat.of().formatHex(key(ReaderOptions.DEFAULT
                .withSkipBadRows(true), config)));
        assertNotEquals(HexFormat.of().formatHex(base), HexFormat.of().formatHex(key(ReaderOptions.DEFAULT
                .withFields("target", "source"), config)));
        // The pad id and decoder start do not change tokens: same entry.
        assertEquals(HexFormat.of().formatHex(base), HexFormat.of().formatHex(key(ReaderOptions.DEFAULT,
                config.withDecoderStartTokenId(0))));
        // Data bytes: one changed character in a copy (and its path) gives another key.
        Path copy = dir.resolve("valid.jsonl");
        Files.copy(VALID, copy);
        byte[] copyKey = TokenCache.key(copy, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        Files.writeString(copy, Files.readString(copy).replaceFirst("a", "b"));
        assertNotEquals(HexFormat.of().formatHex(copyKey),
                HexFormat.of().formatHex(TokenCache.key(copy, ReaderOptions.DEFAULT, tok, config, Progress.NONE)));
        // Tokenizer bytes: the same tokenizer with one more space.
        Path tokCopy = dir.resolve("tokenizer.json");
        Files.writeString(tokCopy, Files.readString(Fixtures.tokenizer()) + " ");
        try (TextTokenizer other = TextTokenizer.load(tokCopy)) {
            assertNotEquals(HexFormat.of().formatHex(base),
                    HexFormat.of().formatHex(TokenCache.key(VALID, ReaderOptions.DEFAULT, other, config, Progress.NONE)));
        }
    }

    @Test
    void wideIdsRoundTrip() throws Exception {
        Dataset d = new Dataset(List.of(new Seq2SeqExample(new long[] {0, 70_000, 2}, new long[] {0, 65_535, 2}),
                new Seq2SeqExample(new long[] {0, 2}, new long[] {0, 4_000_000_000L, 2})), 0, List.of(), 1, 0);
        Path f = dir.resolve("wide.tokens");
        byte[] key = new byte[32];
        TokenCacheFile.write(f, key, d);
        assertDatasetsEqual(d, TokenCacheFile.read(f, key, 3, 3, 4_000_000_001L));
        assertThrowsDamaged(() -> TokenCacheFile.read(f, key, 3, 3, 4_000_000_000L)); // id outside the vocabulary
        assertThrowsDamaged(() -> TokenCacheFile.read(f, key, 2, 3, 4_000_000_001L)); // longer than the maximum
        Dataset narrow = new Dataset(List.of(new Seq2SeqExample(new long[] {0, 65_535, 2}, new long[] {0, 2})), 0,
                List.of(), 0, 0);
        TokenCacheFile.write(f, key, narrow);
        assertEquals(8 + 4 + 32 + 20 + 1 + 8 + 5 * 2 + 4, Files.size(f)); // two bytes per id
        assertDatasetsEqual(narrow, TokenCacheFile.read(f, key, 3, 3, 65_536));
    }

    @Test
    void unwritableCacheStillLoads() throws IOException {
        Path file = dir.resolve("not-a-dir");
        Files.writeString(file, "x");
        TokenCache.Loaded l = new TokenCache(file).load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertEquals(TokenCache.Outcome.NOT_STORED, l.outcome());
        assertDatasetsEqual(Dataset.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE), l.dataset());
    }

    @Test
    void parallelTokenizationEqualsSequential() {
        ReadResult all = DataReader.read(DataReaderTest.MANPAGES.resolve("train.jsonl"), ReaderOptions.DEFAULT);
        ReadResult read = new ReadResult(all.file(), all.rows().subList(0, 1000), 0, List.of());
        Dataset sequential = Dataset.encode(read, tok, config, Progress.NONE, 1, Dataset.CHUNK);
        List<Long> seen = new ArrayList<>();
        Progress record = new Progress() {
            @Override
            public void start(String task, long total) {
                assertEquals(read.rows().size(), total);
            }

            @Override
            public void advance(long done, String status) {
                seen.add(done);
            }

            @Override
            public void finish() {}
        };
        Dataset parallel = Dataset.encode(read, tok, config, record, 4, 37); // 28 chunks over 4 threads
        assertDatasetsEqual(sequential, parallel);
        assertTrue(sequential.truncatedSources() > 100, "truncation is exercised");
        assertEquals(28, seen.size());
        assertEquals(read.rows().size(), seen.get(seen.size() - 1));
        for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i) > seen.get(i - 1), "progress must only grow: " + seen);
        }
        // The public entry point (one thread per core) agrees as well.
        assertDatasetsEqual(sequential, Dataset.encode(read, tok, config, Progress.NONE));
    }

    private byte[] key(ReaderOptions options, DataConfig c) {
        return TokenCache.key(VALID, options, tok, c, Progress.NONE);
    }

    private static void assertRebuilt(TokenCache cache, Path entry, byte[] good, Dataset direct, String what)
            throws IOException {
        TokenCache.Loaded l = cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE);
        assertEquals(TokenCache.Outcome.REBUILT, l.outcome(), what);
        assertDatasetsEqual(direct, l.dataset());
        assertTrue(Arrays.equals(good, Files.readAllBytes(entry)), what + ": the entry is rewritten");
        assertEquals(TokenCache.Outcome.HIT, cache.load(VALID, ReaderOptions.DEFAULT, tok, config, Progress.NONE).outcome());
    }

    private interface Read {
        void run() throws Exception;
    }

    private static void assertThrowsDamaged(Read r) {
        try {
            r.run();
        } catch (TokenCacheFile.Damaged e) {
            return;
        } catch (Exception e) {
            throw new AssertionError("expected Damaged, got " + e, e);
        }
        throw new AssertionError("expected Damaged");
    }

    static void assertDatasetsEqual(Dataset expected, Dataset actual) {
        assertEquals(expected.examples(), actual.examples()); // Seq2SeqExample compares ids
        assertEquals(expected.skippedRows(), actual.skippedRows());
        assertEquals(expected.skipReasons(), actual.skipReasons());
        assertEquals(expected.truncatedSources(), actual.truncatedSources());
        assertEquals(expected.truncatedTargets(), actual.truncatedTargets());
        assertFalse(actual.examples().isEmpty());
    }
}
