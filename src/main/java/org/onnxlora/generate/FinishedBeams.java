package org.onnxlora.generate;

import java.util.ArrayList;
import java.util.List;

/** The best {@code capacity} finished hypotheses of one example, by length-penalised score. */
final class FinishedBeams {
    /** Hugging Face's score for an empty slot: anything real beats it. */
    static final float EMPTY = -1.0e9f;

    record Hypothesis(float score, long[] tokens) {}

    private final int capacity;
    private final List<Hypothesis> best = new ArrayList<>();

    FinishedBeams(int capacity) {
        this.capacity = capacity;
    }

    boolean full() {
        return best.size() == capacity;
    }

    float worst() {
        return full() ? best.get(best.size() - 1).score() : EMPTY;
    }

    /** Keeps the hypothesis if it beats the worst kept one (or a slot is free); ties keep the older. */
    void offer(float score, long[] tokens) {
        if (!(score > worst())) {
            return;
        }
        if (full()) {
            best.remove(best.size() - 1);
        }
        int at = 0;
        while (at < best.size() && best.get(at).score() >= score) {
            at++;
        }
        best.add(at, new Hypothesis(score, tokens));
    }

    Hypothesis top() {
        return best.isEmpty() ? null : best.get(0);
    }
}
