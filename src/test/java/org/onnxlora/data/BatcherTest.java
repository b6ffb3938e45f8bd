package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.train.Batch;

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
        BatchStream s = b.stream(DataPosition.START, epochs);
        while (s.hasNext()) {
            positions.add(s.position());
            uninterrupted.add(s.next());
        }
        assertEquals(epochs * b.batchesPerEpoch(), uninterrupted.size());
        assertEquals(new DataPosition(2, 0), s.position());
        // Resume, from a fresh Batcher as after a restart, in mid-epoch and at an epoch boundary.
        for (int k : new int[] {0, 5, b.batchesPerEpoch() - 1, b.batchesPerEpoch(), b.batchesPerEpoch() + 40}) {
            BatchStream resumed = new Batcher(train, BATCH, 11, config).stream(positions.get(k), epochs);
            for (int j = k; j < Math.min(uninterrupted.size(), k + 3); j++) {
                assertEquals(positions.get(j), resumed.position());
                assertBatchesEqual(uninterrupted.get(j), resumed.next());
            }
            assertBatchesEqual(uninterrupted.get(k), b.batch(positions.get(k)));
        }
        assertThrows(OnnxLoraException.class, () -> b.stream(new DataPosition(0, b.batchesPerEpoch()), 1));
    }

    @Test
    void bucketingWastesLessPaddingThanRandomBatches() {
        Batcher bucketed = new Batcher(train, BATCH, 3, config);
        Batcher random = new Batcher(train, BATCH, 3, config, 1);
        double bucketedEff = bucketed.paddingStats(0).efficiency();
        double randomEff = random.paddingStats(0).efficiency();
        assertTrue(bucketedEff > randomEff + 0.1, "bucketed " + bucketedEff + " vs random " + randomEff);
        assertTrue(bucketedEff > 0.8, "bucketed efficiency " + bucketedEff);
        // The length-only estimate equals what the built batches contain.
        PaddingStats built = PaddingStats.EMPTY;
        for (BatchStream s = bucketed.stream(DataPosition.START, 1); s.hasNext(); ) {
            built = built.plus(PaddingStats.of(s.next()));
        }
        assertEquals(bucketed.paddingStats(0), built);
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
