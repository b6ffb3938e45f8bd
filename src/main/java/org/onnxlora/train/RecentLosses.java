package org.onnxlora.train;

import java.util.ArrayDeque;

/** The last 20 steps' losses, whose mean is the train loss a run's summary.json reports. */
final class RecentLosses {
    private static final int WINDOW = 20;
    private final ArrayDeque<Double> losses = new ArrayDeque<>();

    void add(double loss) {
        losses.addLast(loss);
        if (losses.size() > WINDOW) {
            losses.removeFirst();
        }
    }

    boolean isEmpty() {
        return losses.isEmpty();
    }

    /** Their mean, or {@code none} before any step ran here. */
    double meanOr(double none) {
        return losses.stream().mapToDouble(Double::doubleValue).average().orElse(none);
    }
}
