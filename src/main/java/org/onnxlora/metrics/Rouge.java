package org.onnxlora.metrics;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * ROUGE-1, ROUGE-2 (n-gram overlap) and ROUGE-L (longest common subsequence), with the
 * definitions of Google's {@code rouge_score}: n-grams are counted with multiplicity and
 * the overlap of one n-gram is the smaller of its two counts; the corpus score is the
 * plain mean of the per-example precision, recall and F1 (no bootstrap resampling).
 * ROUGE-L here is the sentence-level variant ({@code rougeL}, not {@code rougeLsum}).
 */
public final class Rouge {
    private final RougeTokenizer tokenizer;

    public Rouge() {
        this(RougeTokenizer.DEFAULT);
    }

    public Rouge(RougeTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Scores one prediction against its reference (argument order as rouge_score's {@code score(target, prediction)}). */
    public RougeScores score(String reference, String prediction) {
        List<String> ref = tokenizer.tokenize(reference);
        List<String> pred = tokenizer.tokenize(prediction);
        return new RougeScores(ngrams(ref, pred, 1), ngrams(ref, pred, 2), lcs(ref, pred));
    }

    /** Mean over examples of each precision, recall and F1. */
    public RougeScores corpus(List<String> references, List<String> predictions) {
        if (references.size() != predictions.size()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "ROUGE needs one prediction per reference, got "
                    + predictions.size() + " predictions for " + references.size() + " references");
        }
        if (references.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "ROUGE of an empty corpus is undefined");
        }
        double[][] sums = new double[3][3];
        for (int i = 0; i < references.size(); i++) {
            RougeScores s = score(references.get(i), predictions.get(i));
            add(sums[0], s.rouge1());
            add(sums[1], s.rouge2());
            add(sums[2], s.rougeL());
        }
        int n = references.size();
        return new RougeScores(mean(sums[0], n), mean(sums[1], n), mean(sums[2], n));
    }

    private static void add(double[] sum, RougeScore s) {
        sum[0] += s.precision();
        sum[1] += s.recall();
        sum[2] += s.f1();
    }

    private static RougeScore mean(double[] sum, int n) {
        return new RougeScore(sum[0] / n, sum[1] / n, sum[2] / n);
    }

    /** ROUGE-N: clipped n-gram overlap. */
    static RougeScore ngrams(List<String> reference, List<String> prediction, int n) {
        Map<List<String>, Integer> refCounts = count(reference, n);
        Map<List<String>, Integer> predCounts = count(prediction, n);
        long overlap = 0;
        for (Map.Entry<List<String>, Integer> e : predCounts.entrySet()) {
            overlap += Math.min(e.getValue(), refCounts.getOrDefault(e.getKey(), 0));
        }
        return RougeScore.of(overlap, Math.max(0, prediction.size() - n + 1), Math.max(0, reference.size() - n + 1));
    }

    private static Map<List<String>, Integer> count(List<String> tokens, int n) {
        Map<List<String>, Integer> counts = new HashMap<>();
        for (int i = 0; i + n <= tokens.size(); i++) {
            counts.merge(tokens.subList(i, i + n), 1, Integer::sum);
        }
        return counts;
    }

    /** ROUGE-L: precision = LCS / prediction length, recall = LCS / reference length; 0 if either is empty. */
    static RougeScore lcs(List<String> reference, List<String> prediction) {
        if (reference.isEmpty() || prediction.isEmpty()) {
            return RougeScore.ZERO;
        }
        long l = lcsLength(reference, prediction);
        return RougeScore.of(l, prediction.size(), reference.size());
    }

    /** Classic dynamic programme over two rows: O(|a|·|b|) time, O(|b|) memory. */
    static int lcsLength(List<String> a, List<String> b) {
        int[] prev = new int[b.size() + 1];
        int[] cur = new int[b.size() + 1];
        for (int i = 1; i <= a.size(); i++) {
            String ai = a.get(i - 1);
            for (int j = 1; j <= b.size(); j++) {
                cur[j] = ai.equals(b.get(j - 1)) ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.size()];
    }
}
