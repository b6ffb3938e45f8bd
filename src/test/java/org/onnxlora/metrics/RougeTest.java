package org.onnxlora.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Hand-computed examples; the numbers in the comments are worked out from rouge_score's definitions. */
class RougeTest {
    private static final double EPS = 1e-12;
    private final Rouge rouge = new Rouge();

    private static void assertScore(double p, double r, double f, RougeScore s) {
        assertEquals(p, s.precision(), EPS, "precision");
        assertEquals(r, s.recall(), EPS, "recall");
        assertEquals(f, s.f1(), EPS, "f1");
    }

    @Test
    void identicalStringsScoreOne() {
        RougeScores s = rouge.score("The cat sat on the mat.", "the cat sat on the mat");
        assertScore(1, 1, 1, s.rouge1());
        assertScore(1, 1, 1, s.rouge2());
        assertScore(1, 1, 1, s.rougeL());
    }

    @Test
    void disjointStringsScoreZero() {
        RougeScores s = rouge.score("alpha beta gamma", "delta epsilon");
        assertScore(0, 0, 0, s.rouge1());
        assertScore(0, 0, 0, s.rouge2());
        assertScore(0, 0, 0, s.rougeL());
    }

    @Test
    void rouge1ClipsRepeatedWords() {
        // ref: the cat sat on the mat (6), pred: the the the cat (4).
        // Overlap: the -> min(2, 3) = 2, cat -> 1; 3. P = 3/4, R = 3/6, F = 2·.75·.5/1.25 = 0.6.
        assertScore(0.75, 0.5, 0.6, rouge.score("the cat sat on the mat", "the the the cat").rouge1());
    }

    @Test
    void rouge2CountsBigrams() {
        // ref bigrams: police killed, killed the, the gunman (3); pred "the gunman police killed":
        // the gunman, gunman police, police killed (3). Overlap 2: P = R = F = 2/3.
        RougeScores s = rouge.score("police killed the gunman", "the gunman police killed");
        assertScore(2.0 / 3, 2.0 / 3, 2.0 / 3, s.rouge2());
        assertScore(1, 1, 1, s.rouge1());
        // LCS is "police killed" or "the gunman": 2 of 4 on both sides.
        assertScore(0.5, 0.5, 0.5, s.rougeL());
    }

    @Test
    void rougeLUsesTheLongestCommonSubsequence() {
        // ref: a b c d e f g (7), pred: a x c d y g (6). LCS = a c d g = 4.
        // P = 4/6, R = 4/7, F = 2·(2/3)(4/7)/((2/3)+(4/7)) = 8/13.
        assertScore(4.0 / 6, 4.0 / 7, 8.0 / 13, rouge.score("a b c d e f g", "a x c d y g").rougeL());
    }

    @Test
    void shorterPredictionHasFullPrecision() {
        // ref: the quick brown fox (4), pred: the fox (2). R1: 2 -> P 1, R .5, F 2/3.
        // R2: "the fox" is not a reference bigram -> 0. RL: LCS 2 -> as R1.
        RougeScores s = rouge.score("the quick brown fox", "the fox");
        assertScore(1, 0.5, 2.0 / 3, s.rouge1());
        assertScore(0, 0, 0, s.rouge2());
        assertScore(1, 0.5, 2.0 / 3, s.rougeL());
    }

    @Test
    void emptyAndPunctuationOnlyTextScoresZero() {
        RougeScores s = rouge.score("a real reference", "!!! ...");
        assertScore(0, 0, 0, s.rouge1());
        assertScore(0, 0, 0, s.rougeL());
        assertScore(0, 0, 0, rouge.score("", "").rouge1());
        // A one-token text has no bigram: both counts are 0, so the score is 0, not 1 (as rouge_score).
        assertScore(0, 0, 0, rouge.score("word", "word").rouge2());
    }

    @Test
    void tokenizesLikeRougeScore() {
        assertEquals(List.of("hello", "world", "it", "s", "2024", "x86", "64"),
                RougeTokenizer.DEFAULT.tokenize("Hello, World! It's 2024 -- x86_64"));
        // Non-ASCII letters are separators in rouge_score's default tokenizer.
        assertEquals(List.of("na", "ve", "caf"), RougeTokenizer.DEFAULT.tokenize("naïve café"));
        assertEquals(List.of(), RougeTokenizer.DEFAULT.tokenize("  \t\n "));
    }

    @Test
    void stemmerAppliesOnlyToLongTokens() {
        RougeTokenizer stripS = new RougeTokenizer(t -> t.endsWith("s") ? t.substring(0, t.length() - 1) : t);
        assertEquals(List.of("cat", "dog"), stripS.tokenize("cats dogs"));
        assertEquals(List.of("runner", "is"), stripS.tokenize("runners is"));
        assertScore(1, 1, 1, new Rouge(stripS).score("the runner", "the runners").rouge1());
    }

    @Test
    void corpusScoreIsTheMeanOfExamples() {
        // Example 1: identical (1, 1, 1). Example 2: "the quick brown fox" vs "the fox": R1 (1, .5, 2/3).
        RougeScores s = rouge.corpus(List.of("a b", "the quick brown fox"), List.of("a b", "the fox"));
        assertScore(1, 0.75, (1 + 2.0 / 3) / 2, s.rouge1());
        assertScore(0.5, 0.5, 0.5, s.rouge2());
    }

    @Test
    void corpusRejectsMismatchedLists() {
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> rouge.corpus(List.of("a"), List.of())).code());
        assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class,
                () -> rouge.corpus(List.of(), List.of())).code());
    }
}
