package org.onnxlora.report;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a report shows of one run: its settings, its curves by metric, its final
 * summary, the eval results attached to it, and what was missing or damaged.
 */
public record RunData(String name, Path dir, Map<String, String> settings, Map<Metric, List<Point>> curves,
        Map<String, String> summary, List<EvalResult> evals, List<String> notices) {

    /** One logged value. */
    public record Point(long step, double value) {}

    /** One {@code RUN/eval/<name>.json}: its values as text, in file order. */
    public record EvalResult(String name, Map<String, String> values) {}
}
