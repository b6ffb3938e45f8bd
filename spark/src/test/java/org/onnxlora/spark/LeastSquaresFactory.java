package org.onnxlora.spark;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.LeastSquaresWorker;

/**
 * Builds the CPU test worker on each executor (options as {@link SparkTrainMain} passes them):
 * {@code checkpoints}, {@code batch}, optional {@code halt-rank}/{@code halt-step} (the executor
 * JVM dies there on the first attempt) and {@code model-of-rank-1} (that rank claims another model).
 */
public final class LeastSquaresFactory implements WorkerFactory {
    private static final long serialVersionUID = 1L;
    private final Map<String, String> options;

    public LeastSquaresFactory(Map<String, String> options) {
        this.options = Map.copyOf(options);
    }

    @Override
    public DataParallelWorker create(WorkerContext ctx, List<TextPair> shard) {
        List<String[]> rows = shard.stream().map(p -> new String[] {p.source(), p.target()}).toList();
        LeastSquaresWorker.Fault fault = options.containsKey("halt-step")
                ? new LeastSquaresWorker.Fault(Integer.parseInt(options.get("halt-rank")),
                        Long.parseLong(options.get("halt-step")), 0, true)
                : null;
        String model = ctx.rank() == 1 && options.containsKey("model-of-rank-1") ? options.get("model-of-rank-1")
                : "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        return new LeastSquaresWorker(ctx.rank(), ctx.attempt(), List.of(rows),
                Integer.parseInt(options.getOrDefault("batch", "3")), Path.of(options.get("checkpoints")), fault, model);
    }
}
