package org.onnxlora.spark;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.ForwardingWorker;
import org.onnxlora.parallel.StepGradients;

/**
 * {@link LoraWorkerFactory} with the faults the Spark tests need: {@code halt-rank}/{@code halt-step}
 * (that executor JVM dies mid-step on the first stage attempt, sockets and all) and
 * {@code model-of-rank-1} (that rank is given another model file, as a cluster whose machines hold
 * different copies would).
 */
public final class FaultyLoraFactory implements WorkerFactory {
    private static final long serialVersionUID = 1L;
    private final Map<String, String> options;

    public FaultyLoraFactory(Map<String, String> options) {
        this.options = Map.copyOf(options);
        new LoraWorkerFactory(real(0)); // the real factory's checks, on the driver
    }

    private Map<String, String> real(int rank) {
        Map<String, String> m = new HashMap<>(options);
        m.remove("halt-rank");
        m.remove("halt-step");
        String other = m.remove("model-of-rank-1");
        if (rank == 1 && other != null) {
            m.put("model", other);
        }
        return m;
    }

    @Override
    public DataParallelWorker create(WorkerContext ctx, List<TextPair> shard) {
        DataParallelWorker w = new LoraWorkerFactory(real(ctx.rank())).create(ctx, shard);
        if (!options.containsKey("halt-step") || ctx.attempt() != 0
                || ctx.rank() != Integer.parseInt(options.get("halt-rank"))) {
            return w;
        }
        long haltStep = Long.parseLong(options.get("halt-step"));
        return new ForwardingWorker(w) {
            @Override
            public StepGradients computeGradients(long step) {
                StepGradients g = super.computeGradients(step);
                if (step == haltStep) {
                    Runtime.getRuntime().halt(137); // after the forward pass, before the sum: mid-step
                }
                return g;
            }
        };
    }
}
