package org.onnxlora.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GeneratorTest {
    private static final RuntimeOptions OPTIONS = RuntimeOptions.defaults().withThreads(2);
    private static final GenerationConfig GREEDY = GenerationConfig.DEFAULT.withMaxNewTokens(40);
    private static final GenerationConfig BEAM4 = GREEDY.withNumBeams(4);

    private Generator full;
    private Generator cached;
    private List<long[]> dataset;
    private List<long[]> random;

    @BeforeAll
    void open() {
        full = Generator.open(Fixtures.torchscript(), GREEDY, OPTIONS);
        cached = Generator.open(Fixtures.optimum(), GREEDY, OPTIONS);
        dataset = TestInputs.sources(6);
        random = randomSources(6, 7);
    }

    @AfterAll
    void close() {
        full.close();
        cached.close();
    }

    /** Hand-made sources: {@code <s>}, 3–30 ordinary ids, {@code </s>}. */
    static List<long[]> randomSources(int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long[] s = new long[5 + rng.nextInt(28)];
            s[0] = 0;
            s[s.length - 1] = 2;
            for (int j = 1; j < s.length - 1; j++) {
                s[j] = 5 + rng.nextInt(2043);
            }
            out.add(s);
        }
        return out;
    }

    private List<long[]> all() {
        List<long[]> l = new ArrayList<>(dataset);
        l.addAll(random);
        return l;
    }

    private static void assertSame(List<long[]> expected, List<long[]> actual, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), what + ", example " + i);
        }
    }

    @Test
    void cachedPathIsDetected() {
        assertTrue(cached.usesCache());
        assertFalse(full.usesCache());
    }

    @Test
    void greedyFullModelEqualsCachedPath() {
        List<long[]> a = full.generate(all());
        List<long[]> b = cached.generate(all());
        assertSame(a, b, "greedy full vs cached");
        // The fixture model copies its input, so the dataset examples start with <s> as the brief says.
        assertEquals(0L, a.get(0)[0]);
    }

    @Test
    void dynamoExportGivesTheSameTokens() {
        try (Generator dynamo = Generator.open(Fixtures.dynamo(), GREEDY, OPTIONS)) {
            assertSame(full.generate(all()), dynamo.generate(all()), "TorchScript vs dynamo export");
        }
    }

    @Test
    void optimumFolderWithoutPastReRunsTheDecoder(@TempDir Path dir) throws Exception {
        Files.copy(Fixtures.optimum().resolve("encoder_model.onnx"), dir.resolve("encoder_model.onnx"));
        Files.copy(Fixtures.optimum().resolve("decoder_model.onnx"), dir.resolve("decoder_model.onnx"));
        try (Generator noPast = Generator.open(dir, GREEDY, OPTIONS)) {
            assertFalse(noPast.usesCache());
            assertSame(cached.generate(random), noPast.generate(random), "with vs without past");
            assertSame(cached.generate(random, BEAM4), noPast.generate(random, BEAM4), "beams, with vs without past");
        }
    }

    @Test
    void beamSearchWithOneBeamEqualsGreedy() {
        for (StepModel model : List.of(stepModel(cached), stepModel(full))) {
            SourceBatch batch = SourceBatch.of(all(), 1);
            assertSame(GreedySearch.run(model, batch, GREEDY), BeamSearch.run(model, batch, GREEDY),
                    "beam search with 1 beam vs greedy");
        }
    }

    private static StepModel stepModel(Generator g) {
        try {
            var f = Generator.class.getDeclaredField("model");
            f.setAccessible(true);
            return (StepModel) f.get(g);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void beamSearchFullModelEqualsCachedPath() {
        assertSame(full.generate(all(), BEAM4), cached.generate(all(), BEAM4), "4 beams, full vs cached");
        GenerationConfig penalised = BEAM4.withLengthPenalty(2.0).withEarlyStopping(true);
        assertSame(full.generate(random, penalised), cached.generate(random, penalised),
                "4 beams, length penalty 2, early stopping, full vs cached");
    }

    @Test
    void fourBeamsFindAtLeastGreedysLogProbability() throws Exception {
        // Length penalty 0 makes the beam score the plain log-probability, and without early stopping HF's
        // stopping rule is exact, so the comparison is like for like.
        GenerationConfig plain = GREEDY.withLengthPenalty(0).withEarlyStopping(false);
        int better = 0;
        try (TeacherForcing tf = new TeacherForcing(Fixtures.torchscript(), OPTIONS)) {
            double[][] perExample = logProbs(tf, all(), plain);
            for (int i = 0; i < perExample.length; i++) {
                double g = perExample[i][0];
                double b = perExample[i][1];
                assertTrue(b >= g - 1e-4, "example " + i + ": beam " + b + " < greedy " + g);
                better += b > g + 1e-4 ? 1 : 0;
            }
            // Beam search is not exact: the greedy path can fall out of the 4 beams and come back stronger
            // (random sources of seed 99, example 6: greedy -8.32, 4 beams -8.90). The search matches
            // transformers token for token (HuggingFaceParityTest), so that is beam search, not a bug; on a
            // wider set it must still win overall.
            double[][] wider = logProbs(tf, randomSources(10, 99), plain);
            double greedySum = 0;
            double beamSum = 0;
            for (double[] w : wider) {
                greedySum += w[0];
                beamSum += w[1];
            }
            assertTrue(beamSum > greedySum, "beam " + beamSum + " vs greedy " + greedySum);
        }
        assertTrue(better > 0, "beam search never beat greedy: the test would not notice a beam search that is greedy");
    }

    /** Per source: {teacher-forced log p(greedy output), log p(4-beam output)}. */
    private double[][] logProbs(TeacherForcing tf, List<long[]> sources, GenerationConfig plain) throws Exception {
        List<long[]> greedy = cached.generate(sources, plain);
        List<long[]> beams = cached.generate(sources, plain.withNumBeams(4));
        double[][] out = new double[sources.size()][];
        for (int i = 0; i < sources.size(); i++) {
            out[i] = new double[] {tf.logProb(sources.get(i), greedy.get(i), 2), tf.logProb(sources.get(i), beams.get(i), 2)};
        }
        return out;
    }

    @Test
    void noRepeatNgramSizeTwoNeverRepeatsABigram() {
        List<long[]> sources = all();
        assertTrue(cached.generate(sources).stream().anyMatch(o -> repeatsBigram(o)),
                "without the constraint some output should repeat a bigram, or this test proves nothing");
        GenerationConfig c = GREEDY.withNoRepeatNgramSize(2);
        for (GenerationConfig cfg : List.of(c, c.withNumBeams(4))) {
            List<long[]> a = cached.generate(sources, cfg);
            for (int i = 0; i < a.size(); i++) {
                assertFalse(repeatsBigram(a.get(i)), "example " + i + " repeats a bigram: " + Arrays.toString(a.get(i)));
            }
            assertSame(a, full.generate(sources, cfg), "no-repeat-ngram, full vs cached");
        }
    }

    /** Over the decoder sequence, start token included (as HF's processor sees it). */
    private static boolean repeatsBigram(long[] out) {
        Set<List<Long>> seen = new HashSet<>();
        long prev = 2;
        for (long t : out) {
            if (!seen.add(List.of(prev, t))) {
                return true;
            }
            prev = t;
        }
        return false;
    }

    @Test
    void stopsAtEosAndAtMaxNewTokens() {
        for (int max : new int[] {5, 40}) {
            for (int beams : new int[] {1, 4}) {
                GenerationConfig c = GREEDY.withMaxNewTokens(max).withNumBeams(beams);
                List<long[]> out = cached.generate(all(), c);
                boolean sawEos = false;
                for (long[] o : out) {
                    assertTrue(o.length <= max, "longer than maxNewTokens: " + o.length);
                    for (int i = 0; i < o.length - 1; i++) {
                        assertTrue(o[i] != 2, "tokens after EOS: " + Arrays.toString(o));
                    }
                    boolean eos = o[o.length - 1] == 2;
                    sawEos |= eos;
                    assertTrue(eos || o.length == max, "stopped early without EOS: " + Arrays.toString(o));
                }
                if (max == 40) {
                    assertTrue(sawEos, "no example finished with EOS within 40 tokens");
                } else {
                    assertTrue(out.stream().allMatch(o -> o.length == 5));
                }
            }
        }
    }

    @Test
    void forcedEosEndsEverySequenceAtTheLimit() {
        GenerationConfig c = GREEDY.withMaxNewTokens(6).withForcedEosTokenId(OptionalInt.of(2));
        for (GenerationConfig cfg : List.of(c, c.withNumBeams(3))) {
            for (long[] o : cached.generate(all(), cfg)) {
                assertEquals(2L, o[o.length - 1], Arrays.toString(o));
                assertTrue(o.length <= 6);
            }
        }
    }

    @Test
    void minLengthAndForcedBos() {
        GenerationConfig c = GREEDY.withMinLength(30).withForcedBosTokenId(OptionalInt.of(7));
        for (GenerationConfig cfg : List.of(c, c.withNumBeams(4))) {
            for (long[] o : cached.generate(dataset, cfg)) {
                assertEquals(7L, o[0]);
                assertTrue(o.length >= 30, "EOS before min length: " + Arrays.toString(o));
            }
        }
    }

    @Test
    void batchedResultsEqualEachExampleAlone() {
        List<long[]> sources = all();
        for (Generator g : List.of(cached, full)) {
            for (GenerationConfig c : List.of(GREEDY, BEAM4)) {
                List<long[]> batched = g.generate(sources, c);
                for (int i = 0; i < sources.size(); i++) {
                    long[] alone = g.generate(List.of(sources.get(i)), c).get(0);
                    assertArrayEquals(alone, batched.get(i), "example " + i + " beams " + c.numBeams());
                }
            }
        }
    }

    @Test
    void rejectsBadArguments() {
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> GREEDY.withNumBeams(0)).code());
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> GREEDY.withMaxNewTokens(0)).code());
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> cached.generate(List.of())).code());
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> cached.generate(List.of(new long[0]))).code());
        assertEquals(ErrorCode.IO, assertThrows(OnnxLoraException.class,
                () -> Generator.open(Path.of("no/such/model.onnx"), GREEDY, OPTIONS)).code());
        assertEquals(ErrorCode.IO, assertThrows(OnnxLoraException.class,
                () -> Generator.open(Fixtures.goldens(), GREEDY, OPTIONS)).code());
    }
}
