package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.testing.Fixtures;

/** Batching of the bundled manpages training split (2834 examples). */
class BatcherTest {
    private static final int BATCH = 16;
    private static List<Seq2SeqExample> train;
    private static DataConfig config;

    @BeforeAll
    static void load() {
        try (TextTokenizer tok = TextTokenizer.load(Fixtures.tokenizer())) {
            config = DataConfig.forTokenizer(tok);
            train = Dataset.load(DataReaderTest.MANPAGES.resolve("train.jsonl"), ReaderOptions.DEFAULT, tok, config,
                    Progress.NONE).examples();
        }
    }

    @Test
    void everyExampleOncePerEpoch() {
        Batcher b = new Batcher(train, BATCH, 7, config);
        assertEquals(178, b.batchesPerEpoch()); // ceil(2834 / 16)
        for (int epoch = 0; epoch < 3; epoch++) {
            int[] seen = new int[train.size()];
            int shortBatches = 0;
            for (int[] batch : b.plan(epoch)) {
                shortBatches += batch.length < BATCH ? 1 : 0;
                for (int i : batch) {
                    seen[i]++;
                }
            }
            int e = epoch;
            assertTrue(Arrays.stream(seen).allMatch(n -> n == 1), () -> "epoch " + e + " does not cover each example once");
            assertEquals(1, shortBatches); // 2834 = 177 × 16 + 2
        }
    }

    @Test
    void planIsAPureFunctionOfSeedAndEpoch() {
        Batcher a = new Batcher(train, BATCH, 7, config);
        Batcher again = new Batcher(train, BATCH, 7, config);
        Batcher other = new Batcher(train, BATCH, 8, config);
        assertPlansEqual(a.plan(3), again.plan(3));
        assertPlansEqual(a.plan(3), a.plan(3));
        assertFalse(plansEqual(a.plan(0), a.plan(1)), "epochs must differ");
        assertFalse(plansEqual(a.plan(0), other.plan(0)), "seeds must differ");
    }

    @Test
    void resumedStreamSeesTheSameBatches() {
        Batcher b = new Batcher(train, BATCH, 11, config);
        int epochs = 2;
        List<Batch> uninterrupted = new ArrayList<>();
        List<DataPosition> positions = new ArrayList<>();
        BatchSource s = b.source(DataPosition.START);
        for (int i = 0; i < epochs * b.batchesPerEpoch(); i++) {
            positions.add(s.position());
            uninterrupted.add(s.next());
        }
        assertEquals(epochs * b.batchesPerEpoch(), uninterrupted.size());
        assertEquals(new DataPosition(2, 0), s.position());
        // Resume, from a fresh Batcher as after a restart, in mid-epoch and at an epoch boundary.
        for (int k : new int[] {0, 5, b.batchesPerEpoch() - 1, b.batchesPerEpoch(), b.batchesPerEpoch() + 40}) {
            BatchSource resumed = new Batcher(train, BATCH, 11, config).source(positions.get(k));
            for (int j = k; j < Math.min(uninterrupted.size(), k + 3); j++) {
                assertEquals(positions.get(j), resumed.position());
                assertBatchesEqual(uninterrupted.get(j), resumed.next());
            }
            assertBatchesEqual(uninterrupted.get(k), b.batch(positions.get(k)));
        }
        assertThrows(OnnxLoraException.class, () -> b.source(new DataPosition(0, b.batchesPerEpoch())));
    }

    /**
     * SHA-256 of epoch plans (each index as 4 big-endian bytes, 0xffffffff after each batch) as
     * the plan's first implementation (boxed comparator sort, rebuilt for every batch) gave them:
     * resumed runs of checkpoints written before the plan cache must see the same batches.
     */
    @Test
    void planMatchesTheGoldenOrder() throws Exception {
        String[][] golden = {
            {"16", "7", "50", "0", "55dd3ed71bc88e897989bd5b83970448b18b02adaf69bfe5c99cf4c1a03d98a4"},
            {"16", "7", "50", "1", "91a192323be03c56a6eac9e2cf79fc11f569f74fe62444c345065f5e7b56af40"},
            {"16", "7", "50", "9", "70bf5586ab2e9e985fddb127e228a973175a878003de3c1063cc690ae286f66b"},
            {"16", "11", "50", "0", "4111a6144ca65c51b788454951e5c0fd9ab82e91486f7275e5b95261ea11c463"},
            {"16", "11", "50", "1", "a1cc63c06e74f5be72b0c86ac57896b8cd617b888b82091576f62dba507c0f17"},
            {"16", "11", "50", "9", "42c29b7b74666198fcec0477cde7270e8c854cb2c79b7c5ff970060738795f44"},
            {"5", "3", "1", "0", "f1c415036cd5d814b46e0ac754b5b92602751e4b9e6688786bcfd8e026aab854"},
            {"5", "3", "1", "1", "333c423bf56ef4584fb69a8732ce493349393961f2d68477d79f336a93ac7efe"},
            {"5", "3", "1", "9", "42abea83da11dcd9238f963d57a7d95f64edbfed34ca7a7e556b2a4f53aa6521"},
            {"32", "42", "50", "0", "da318c65610b759ebfb7e65d5c37d5f0d2470fe1dcb28e5d3252235bafe9c55f"},
            {"32", "42", "50", "1", "182db6ae129cbecf1a57e690c9c7c192fe581e4cb4b331b3545b7faaa0f728a9"},
            {"32", "42", "50", "9", "49b6d10bc50a34be796db4b7a45c23da5ec2637c16442424eeb14e27ddfabd37"},
            {"7", "-5", "3", "0", "8ff08387201bc0dddcb96c6cd9a9dbbdc4c7c398d808c26aa5b19eae133216e2"},
            {"7", "-5", "3", "1", "0903ee1d62f6e45cb11d3ade1078539ddec4a9d3b364070a484e25c46b4455e7"},
            {"7", "-5", "3", "9", "0e853d1e505d8dc430d33bec8fd21ebb4d1cf741e8b1625cec2f0a1b79171548"},
        };
        for (String[] g : golden) {
            Batcher b = new Batcher(train, Integer.parseInt(g[0]), Long.parseLong(g[1]), config, Integer.parseInt(g[2]));
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            for (int[] batch : b.plan(Integer.parseInt(g[3]))) {
                ByteBuffer buf = ByteBuffer.allocate(4 * batch.length + 4);
                for (int i : batch) {
                    buf.putInt(i);
                }
                md.update(buf.putInt(-1).array());
            }
            assertEquals(g[4], HexFormat.of().formatHex(md.digest()), () -> "plan of " + String.join("/", g));
        }
    }

    @Test
    void planIsBuiltOncePerEpoch() {
        Batcher b = new Batcher(train, BATCH, 5, config);
        BatchSource source = b.source(DataPosition.START);
        for (int i = 0; i < 2 * b.batchesPerEpoch() + 3; i++) {
            source.next();
        }
        assertEquals(3, b.planBuilds()); // epochs 0, 1 and the start of 2
        // Statistics of the epoch being served reuse its plan; resuming elsewhere builds that epoch's.
        b.paddingStats(2);
        b.shapes(2);
        assertEquals(3, b.planBuilds());
        source.seek(new DataPosition(0, 4));
        source.next();
        assertEquals(4, b.planBuilds());
        BatchSource s = b.source(DataPosition.START);
        for (int i = 0; i < b.batchesPerEpoch(); i++) {
            s.next();
        }
        assertEquals(4, b.planBuilds());
    }

    @Test
    void batchesArePaddedToAFewShapes() {
        Batcher exact = new Batcher(train, BATCH, 3, config, Batcher.DEFAULT_POOL_BATCHES, BatchPadding.exact(config));
        Batcher laddered = new Batcher(train, BATCH, 3, config);
        assertPlansEqual(exact.plan(0), laddered.plan(0)); // padding changes shapes, never the batches' rows
        int[] sourceRungs = BatchPadding.defaults(config).source().rungs();
        int[] targetRungs = BatchPadding.defaults(config).target().rungs();
        SortedSet<BatchShape> possible = laddered.possibleShapes();
        assertTrue(possible.size() <= 2 * sourceRungs.length * targetRungs.length, possible::toString);
        for (int epoch = 0; epoch < 3; epoch++) {
            SortedSet<BatchShape> seen = new TreeSet<>();
            BatchSource s = laddered.source(new DataPosition(epoch, 0));
            for (int i = 0; i < laddered.batchesPerEpoch(); i++) {
                Batch batch = s.next();
                BatchShape shape = BatchShape.of(batch);
                seen.add(shape);
                assertTrue(Arrays.binarySearch(sourceRungs, shape.sourceLength()) >= 0, shape::toString);
                assertTrue(Arrays.binarySearch(targetRungs, shape.targetLength()) >= 0, shape::toString);
            }
            assertEquals(laddered.shapes(epoch), seen);
            assertTrue(possible.containsAll(seen), () -> seen + " not within " + possible);
            assertTrue(seen.size() < exact.shapes(epoch).size() / 2, seen.size() + " vs " + exact.shapes(epoch).size());
        }
        // Same rows, only more padding: the loss sees the same real tokens.
        Batch a = exact.batch(new DataPosition(1, 17));
        Batch b = laddered.batch(new DataPosition(1, 17));
        assertEquals(a.realTokens(), b.realTokens());
        assertEquals(a.targetTokens(), b.targetTokens());
        assertTrue(b.sourceLength() >= a.sourceLength() && b.targetLength() >= a.targetLength());
        double lost = exact.paddingStats(0).efficiency() - laddered.paddingStats(0).efficiency();
        assertTrue(lost >= 0 && lost < 0.1, "efficiency lost to the ladder: " + lost);
    }

    @Test
    void bucketingWastesLessPaddingThanRandomBatches() {
        BatchPadding exactPadding = BatchPadding.exact(config);
        Batcher bucketed = new Batcher(train, BATCH, 3, config, Batcher.DEFAULT_POOL_BATCHES, exactPadding);
        Batcher random = new Batcher(train, BATCH, 3, config, 1, exactPadding);
        double bucketedEff = bucketed.paddingStats(0).efficiency();
        double randomEff = random.paddingStats(0).efficiency();
        assertTrue(bucketedEff > randomEff + 0.1, "bucketed " + bucketedEff + " vs random " + randomEff);
        assertTrue(bucketedEff > 0.8, "bucketed efficiency " + bucketedEff);
        // The length-only estimate equals what the built batches contain.
        PaddingStats built = PaddingStats.EMPTY;
        BatchSource bucketedSource = bucketed.source(DataPosition.START);
        for (int i = 0; i < bucketed.batchesPerEpoch(); i++) {
            built = built.plus(PaddingStats.of(bucketedSource.next()));
        }
        assertEquals(bucketed.paddingStats(0), built);
        Batcher laddered = new Batcher(train, BATCH, 3, config);
        built = PaddingStats.EMPTY;
        BatchSource ladderedSource = laddered.source(DataPosition.START);
        for (int i = 0; i < laddered.batchesPerEpoch(); i++) {
            built = built.plus(PaddingStats.of(ladderedSource.next()));
        }
        assertEquals(laddered.paddingStats(0), built);
    }

    @Test
    void evaluationBatchesKeepFileOrder() {
        List<Seq2SeqExample> first = train.subList(0, 37);
        List<Batch> batches = Batcher.inOrder(first, 8, config);
        assertEquals(5, batches.size());
        assertEquals(5, batches.get(4).size());
        Batch b = batches.get(1);
        Seq2SeqExample e = first.get(8);
        assertArrayEquals(e.sourceIds(), Arrays.copyOf(b.inputIds(), e.sourceLength()));
        assertArrayEquals(e.targetIds(), Arrays.copyOf(b.labels(), e.targetLength()));
        assertBatchesEqual(b, Batcher.inOrder(first, 8, config).get(1));
        List<Batch> laddered = Batcher.inOrder(first, 8, config, BatchPadding.defaults(config));
        LengthLadder sources = BatchPadding.defaults(config).source();
        for (int i = 0; i < batches.size(); i++) {
            Batch exact = batches.get(i);
            Batch padded = laddered.get(i);
            assertEquals(sources.padTo(exact.sourceLength()), padded.sourceLength());
            assertEquals(exact.realTokens(), padded.realTokens());
            assertEquals(exact.size(), padded.size());
        }
    }

    @Test
    void examplesAreTokenizedWithSpecialTokensAndCut() {
        for (Seq2SeqExample e : train) {
            assertEquals(0, e.sourceIds()[0]);
            assertEquals(2, e.sourceIds()[e.sourceLength() - 1]);
            assertEquals(0, e.targetIds()[0]);
            assertEquals(2, e.targetIds()[e.targetLength() - 1]);
            assertTrue(e.sourceLength() <= config.maxSourceLength() && e.targetLength() <= config.maxTargetLength());
        }
        try (TextTokenizer tok = TextTokenizer.load(Fixtures.tokenizer())) {
            Dataset small = Dataset.load(DataReaderTest.MANPAGES.resolve("valid.jsonl"), ReaderOptions.DEFAULT, tok,
                    config.withMaxLengths(16, 8), Progress.NONE);
            assertEquals(152, small.examples().size());
            assertTrue(small.truncatedSources() > 100 && small.truncatedTargets() > 10,
                    small.truncatedSources() + " / " + small.truncatedTargets());
                // Batch encoding equals encoding one text at a time.
            TextPair first = DataReader.read(DataReaderTest.MANPAGES.resolve("train.jsonl"), ReaderOptions.DEFAULT).rows().get(0);
            assertEquals(new Seq2SeqExample(tok.encode(first.source(), 256), tok.encode(first.target(), 64)), train.get(0));
        assertTrue(small.examples().stream().allMatch(e -> e.sourceLength() <= 16 && e.targetLength() <= 8
                    && e.sourceIds()[e.sourceLength() - 1] == 2 && e.targetIds()[e.targetLength() - 1] == 2));
        }
    }

    private static void assertBatchesEqual(Batch expected, Batch actual) {
        assertEquals(expected.size(), actual.size());
        assertEquals(expected.sourceLength(), actual.sourceLength());
        assertEquals(expected.targetLength(), actual.targetLength());
        assertArrayEquals(expected.inputIds(), actual.inputIds());
        assertArrayEquals(expected.attentionMask(), actual.attentionMask());
        assertArrayEquals(expected.decoderInputIds(), actual.decoderInputIds());
        assertArrayEquals(expected.labels(), actual.labels());
    }

    private static void assertPlansEqual(List<int[]> a, List<int[]> b) {
        assertTrue(plansEqual(a, b));
    }

    private static boolean plansEqual(List<int[]> a, List<int[]> b) {
        if (a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (!Arrays.equals(a.get(i), b.get(i))) {
                return false;
            }
        }
        return true;
    }

    @Test
    void badBatchingOptions() {
        assertThrows(OnnxLoraException.class, () -> new Batcher(train, 0, 1, config));
        assertThrows(OnnxLoraException.class, () -> new Batcher(List.of(), 4, 1, config));
        assertThrows(OnnxLoraException.class, () -> new Batcher(train, 4, 1, config, 0));
        assertNotEquals(Batcher.epochSeed(1, 0), Batcher.epochSeed(0, 1));
    }
}
