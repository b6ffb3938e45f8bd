package org.onnxlora.metrics;

/** Precision, recall and F1 of one ROUGE variant, each in [0, 1]. */
public record RougeScore(double precision, double recall, double f1) {
    public static final RougeScore ZERO = new RougeScore(0, 0, 0);

    /**
     * From an overlap count, as rouge_score computes it: a side with no units counts as 1 in the
     * denominator (the score is then 0), and F1 is 0 when precision and recall both are.
     */
    static RougeScore of(long overlap, long predictionUnits, long referenceUnits) {
        double p = overlap / (double) Math.max(predictionUnits, 1);
        double r = overlap / (double) Math.max(referenceUnits, 1);
        return new RougeScore(p, r, p + r > 0 ? 2 * p * r / (p + r) : 0);
    }
}
