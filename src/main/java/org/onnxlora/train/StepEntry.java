package org.onnxlora.train;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code "event": "train"} entry of metrics.jsonl, with the fields every kind of run writes, in
 * their order; a single-process run and rank 0 of a data-parallel one append what only they know
 * (padded shape, loss scale, workers). One definition, so report, eval and TensorBoard read the same
 * names from either.
 */
final class StepEntry {
    private StepEntry() {}

    static Map<String, Object> train(long step, double loss, double lr, double gradNorm, long tokens, double seconds) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("event", "train");
        e.put("step", step);
        e.put("loss", loss);
        e.put("lr", lr);
        e.put("grad_norm", gradNorm);
        e.put("tokens", tokens);
        e.put("tokens_per_second", tokens / seconds);
        // step time (and a run's padded shape) let a benchmark set a real-data step against a fixed-shape one
        e.put("step_seconds", seconds);
        return e;
    }
}
