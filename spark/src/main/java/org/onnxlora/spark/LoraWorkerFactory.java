package org.onnxlora.spark;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.api.DataParallelWorkers;
import org.onnxlora.api.TrainOptions;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.runtime.Device;

/**
 * The real trainer on each executor ({@link DataParallelWorkers}), from {@code --worker-option}
 * pairs: {@code model}, {@code tokenizer} and {@code out} (the run folder, on a file system every
 * executor reads; rank 0 writes it) are required; {@code artifacts} (graphs compiled once, shared
 * read-only; without it each worker compiles its own), {@code rank}, {@code alpha}, {@code targets}
 * (comma-separated), {@code lr}, {@code schedule}, {@code warmup}, {@code batch-size} (rows per worker
 * and step), {@code grad-accum}, {@code max-source-length}, {@code max-target-length}, {@code seed},
 * {@code device}, {@code threads} (intra-op threads per worker) and {@code keep-checkpoints} default
 * to the command line's {@code train} defaults (1 thread). {@code steps} is the job's own length
 * ({@link SparkTrainMain} fills it in): the learning-rate schedule runs over it.
 *
 * <p>Options are checked on the driver, before the job starts; the worker itself is built on the
 * executor, from the files its paths name there.
 */
public final class LoraWorkerFactory implements WorkerFactory {
    private static final long serialVersionUID = 1L;
    private static final Set<String> KNOWN = Set.of("model", "tokenizer", "out", "artifacts", "rank", "alpha",
            "targets", "lr", "schedule", "warmup", "steps", "batch-size", "grad-accum", "max-source-length",
            "max-target-length", "seed", "device", "threads", "keep-checkpoints");
    private final Map<String, String> options;

    public LoraWorkerFactory(Map<String, String> options) {
        this.options = Map.copyOf(options);
        for (String k : this.options.keySet()) {
            if (!KNOWN.contains(k)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "unknown worker option '" + k + "'; known: "
                        + String.join(", ", KNOWN.stream().sorted().toList()));
            }
        }
        trainOptions().check();
    }

    /** The settings every worker trains with (the same on every executor). */
    public TrainOptions trainOptions() {
        TrainOptions d = TrainOptions.defaults(path("model"), path("tokenizer"), null, number("steps", null).longValue());
        return d.withLora(integer("rank", d.rank()), number("alpha", d.alpha()).doubleValue(),
                        options.containsKey("targets") ? Arrays.asList(options.get("targets").split(",")) : d.targets())
                .withSchedule(number("lr", d.lr()).doubleValue(), number("warmup", d.warmup()).longValue(),
                        options.getOrDefault("schedule", d.schedule()))
                .withBatch(integer("batch-size", d.batchSize()), integer("grad-accum", d.gradAccum()))
                .withData(d.data().withMaxLengths(integer("max-source-length", d.data().maxSourceLength()),
                        integer("max-target-length", d.data().maxTargetLength())))
                .withSeed(number("seed", d.seed()).longValue())
                .withCheckpoints(0, 0, integer("keep-checkpoints", d.keepCheckpoints()))
                .withRuntime(d.runtime().withDevice(device()).withThreads(integer("threads", 1)));
    }

    private Device device() {
        try {
            return Device.parse(options.getOrDefault("device", "cpu"));
        } catch (OnnxLoraException e) {
            throw new OnnxLoraException(e.code(), "worker option device: " + e.getMessage(), e);
        }
    }

    @Override
    public DataParallelWorker create(WorkerContext context, List<TextPair> shard) {
        String artifacts = options.get("artifacts");
        return DataParallelWorkers.open(trainOptions(), path("out"), artifacts == null ? null : Path.of(artifacts),
                context.rank(), List.of(shard));
    }

    private Path path(String key) {
        String v = options.get(key);
        if (v == null || v.isBlank()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the worker option '" + key + "' is required");
        }
        return Path.of(v);
    }

    private int integer(String key, int dflt) {
        return Math.toIntExact(number(key, dflt).longValue());
    }

    private Number number(String key, Number dflt) {
        String v = options.get(key);
        if (v == null) {
            if (dflt == null) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the worker option '" + key + "' is required");
            }
            return dflt;
        }
        try {
            return v.matches("[+-]?\\d+") ? (Number) Long.parseLong(v) : (Number) Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the worker option '" + key + "' takes a number, not \""
                    + v + "\"");
        }
    }
}
