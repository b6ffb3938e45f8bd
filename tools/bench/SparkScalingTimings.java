package org.onnxlora.spark;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.onnxlora.data.TextPair;
import org.onnxlora.parallel.DataParallelLoop;
import org.onnxlora.parallel.DataParallelWorker;
import org.onnxlora.parallel.ForwardingWorker;
import org.onnxlora.parallel.LocalAllReduce;
import org.onnxlora.parallel.StepGradients;

/**
 * The Spark-free half of tools/bench/spark_scaling.sh: the timed worker every rank runs, the
 * in-process baseline (its own JVM, no Spark on the classpath) and the table rows. Per step, each
 * rank records the start of its forward pass, forward + backward, the optimizer step and the global
 * token count.
 *
 * <p>Args: OUT STEPS WARMUP BATCH (OUT/pairs.jsonl and OUT/artifacts written by SparkScaling)
 */
public final class SparkScalingTimings {
    private SparkScalingTimings() {}

    /** Times each step of the real worker; rank 0..N-1 write OUT/timings-RUN-rank-R.tsv on close. */
    public static final class TimedFactory implements WorkerFactory {
        private static final long serialVersionUID = 1L;
        private final Map<String, String> options;
        private final String timings;

        public TimedFactory(Map<String, String> options, String timings) {
            this.options = Map.copyOf(options);
            this.timings = timings;
        }

        @Override
        public DataParallelWorker create(WorkerContext ctx, List<TextPair> shard) {
            return new Timed(new LoraWorkerFactory(options).create(ctx, shard),
                    Path.of(timings + "-rank-" + ctx.rank() + ".tsv"));
        }
    }

    static final class Timed extends ForwardingWorker {
        private final Path out;
        private final StringBuilder rows = new StringBuilder("step\tstart_ns\tcompute_ns\tapply_ns\ttokens\n");
        private long start;
        private long compute;

        Timed(DataParallelWorker w, Path out) {
            super(w);
            this.out = out;
        }

        @Override
        public StepGradients computeGradients(long step) {
            start = System.nanoTime();
            StepGradients g = super.computeGradients(step);
            compute = System.nanoTime() - start;
            return g;
        }

        @Override
        public void applySummed(long step, float[] gradients, double tokens) {
            long t0 = System.nanoTime();
            super.applySummed(step, gradients, tokens);
            rows.append(step).append('\t').append(start).append('\t').append(compute).append('\t')
                    .append(System.nanoTime() - t0).append('\t').append((long) tokens).append('\n');
        }

        @Override
        public void close() {
            super.close();
            try {
                Files.writeString(out, rows);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The baseline in its own JVM, without Spark's jars (with them ONNX Runtime crashes in-process here). */
    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]).toAbsolutePath();
        int steps = Integer.parseInt(args[1]);
        int warmup = Integer.parseInt(args[2]);
        Map<String, String> options = options(out, args[3], steps);
        options.put("out", out.resolve("run-local").toString());
        List<String> lines = Files.readAllLines(out.resolve("pairs.jsonl"));
        List<TextPair> all = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            com.google.gson.JsonObject o = com.google.gson.JsonParser.parseString(lines.get(i)).getAsJsonObject();
            all.add(new TextPair(o.get("source").getAsString(), o.get("target").getAsString(), i));
        }
        String local = out.resolve("timings-local").toString();
        try (DataParallelWorker w = new TimedFactory(options, local).create(new WorkerContext(0, 1, 0), all)) {
            DataParallelLoop.run(w, LocalAllReduce.group(1, Duration.ofMinutes(1)).get(0),
                    new DataParallelLoop.Options(steps, steps));
        }
        row("in-process, no Spark", 1, Integer.parseInt(args[3]), List.of(Path.of(local + "-rank-0.tsv")), warmup);
    }

    /** The worker options of every row (artifacts compiled once into OUT/artifacts). */
    static Map<String, String> options(Path out, String batch, int steps) {
        Map<String, String> options = new HashMap<>();
        options.put("model", Path.of("models/tiny-bart/model.onnx").toAbsolutePath().toString());
        options.put("tokenizer", Path.of("models/tiny-bart/tokenizer.json").toAbsolutePath().toString());
        options.put("artifacts", out.resolve("artifacts").toString());
        options.put("batch-size", batch);
        options.put("lr", "1e-4");
        options.put("schedule", "constant");
        options.put("seed", "42");
        options.put("threads", "1");
        options.put("steps", Integer.toString(steps));
        return options;
    }

    /** One markdown row from every rank's timings: medians over the steps after {@code warmup}. */
    static void row(String setup, int workers, int global, List<Path> ranks, int warmup) throws IOException {
        List<long[]> r0 = read(ranks.get(0));
        List<Double> step = new ArrayList<>();
        List<Double> compute = new ArrayList<>();
        List<Double> reduce = new ArrayList<>();
        List<Double> share = new ArrayList<>();
        List<Double> tps = new ArrayList<>();
        List<List<long[]>> all = new ArrayList<>();
        for (Path p : ranks) {
            all.add(read(p));
        }
        for (int i = warmup; i + 1 < r0.size(); i++) {
            double s = (r0.get(i + 1)[1] - r0.get(i)[1]) / 1e6;
            // the slowest rank's forward-backward bounds the step; the rest is the ring and its waits
            double c = 0;
            for (List<long[]> rank : all) {
                c = Math.max(c, rank.get(i)[2] / 1e6);
            }
            double a = r0.get(i)[3] / 1e6;
            step.add(s);
            compute.add(c);
            reduce.add(Math.max(0, s - c - a));
            share.add(Math.max(0, s - c - a) / s);
            tps.add(r0.get(i)[4] / (s / 1e3));
        }
        System.out.printf(Locale.ROOT, "| %s | %d | %d | %.1f | %.1f | %.1f | %.0f%% | %.0f |%n", setup, workers, global,
                median(step), median(compute), median(reduce), 100 * median(share), median(tps));
    }

    private static List<long[]> read(Path p) throws IOException {
        List<long[]> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(p);
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split("\t");
            long[] v = new long[f.length];
            for (int i = 0; i < f.length; i++) {
                v[i] = Long.parseLong(f[i]);
            }
            out.add(v);
        }
        return out;
    }

    private static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int n = s.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
