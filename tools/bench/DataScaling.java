import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.onnxlora.Progress;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.BatcherSource;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.Seq2SeqExample;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.data.TokenCache;

/**
 * The data side of training against the size of the data set, for tools/bench/data_scaling.sh:
 * for each JSONL file, start-up through the token cache twice (a miss: hash + read + tokenize +
 * write; then a hit: hash + read the entry), split into phases by their progress tasks; then
 * the cost of a training batch as the trainer takes it (BatcherSource.next: plan lookup,
 * collation, padding), as the median wall time of a batch and as the thread's CPU time per batch
 * (robust to a loaded machine's preemption; it includes the re-plans at epoch boundaries that
 * fall into the measured batches, which small sets have many of), after a JIT warm-up; and the
 * CPU time of one epoch-plan build, also spread over the epoch's batches. One markdown row per file.
 *
 *   java -Xmx6g -cp "target/onnx-lora.jar:target/lib/*" tools/bench/DataScaling.java TOKENIZER CACHE_DIR BATCH FILE...
 */
public final class DataScaling {
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    /** Records when each progress task started and finished. */
    static final class Phases implements Progress {
        final Map<String, Double> seconds = new LinkedHashMap<>();
        private String task;
        private long t0;

        @Override
        public void start(String task, long total) {
            this.task = task.split(" ")[0].toLowerCase(Locale.ROOT);
            t0 = System.nanoTime();
        }

        @Override
        public void advance(long done, String status) {}

        @Override
        public void finish() {
            seconds.merge(task, (System.nanoTime() - t0) / 1e9, Double::sum);
        }

        double get(String t) {
            return seconds.getOrDefault(t, 0.0);
        }
    }

    public static void main(String[] args) throws IOException {
        Path tokenizer = Path.of(args[0]);
        Path cacheDir = Path.of(args[1]);
        int batch = Integer.parseInt(args[2]);
        int rounds = 7;
        int perRound = 1000;
        System.out.printf("| rows | start-up, cache miss: s (hash + read/write + tokenize) | start-up, cache hit: s (hash + "
                + "read entry) | entry MB | epoch plan build, CPU ms | batch wall µs: median (range over %d rounds of %d) "
                + "| batch CPU µs: mean (range) | plan CPU µs per batch, amortised | distinct shapes, epoch 0 | padding efficiency |%n",
                rounds, perRound);
        System.out.println("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|");
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            DataConfig dc = DataConfig.forTokenizer(tok);
            List<Seq2SeqExample> last = null;
            for (int f = 3; f < args.length; f++) {
                Path file = Path.of(args[f]);
                TokenCache cache = new TokenCache(cacheDir.resolve(file.getFileName().toString()));
                Phases miss = new Phases();
                long m0 = System.nanoTime();
                TokenCache.Loaded a = cache.load(file, ReaderOptions.DEFAULT, tok, dc, miss);
                double missS = (System.nanoTime() - m0) / 1e9;
                a = null;
                System.gc();
                Phases hit = new Phases();
                long h0 = System.nanoTime();
                TokenCache.Loaded b = cache.load(file, ReaderOptions.DEFAULT, tok, dc, hit);
                double hitS = (System.nanoTime() - h0) / 1e9;
                if (b.outcome() != TokenCache.Outcome.HIT) {
                    throw new IllegalStateException("second load was " + b.outcome());
                }
                Dataset d = b.dataset();
                double tokenize = miss.get("tokenize");
                double hash = miss.get("hash");
                double missRest = missS - tokenize - hash; // read + write
                String missCol = String.format(Locale.ROOT, "%.2f (%.2f + %.2f read/write + %.2f)", missS, hash, missRest,
                        tokenize);
                String hitCol = String.format(Locale.ROOT, "%.2f (%.2f + %.2f)", hitS, hit.get("hash"),
                        hitS - hit.get("hash"));

                batching(d.examples(), batch, dc, missCol, hitCol, String.format(Locale.ROOT, "%.1f",
                        Files.size(b.entry()) / 1e6));
                last = d.examples();
                d = null;
                b = null;
                System.gc();
            }
            int replicate = Integer.getInteger("replicate", 0);
            if (replicate > 0) {
                // Batching only: distinct copies of the last file's examples, cycled to this many rows.
                List<Seq2SeqExample> big = new ArrayList<>(replicate);
                for (int i = 0; i < replicate; i++) {
                    Seq2SeqExample e = last.get(i % last.size());
                    big.add(new Seq2SeqExample(e.sourceIds().clone(), e.targetIds().clone()));
                }
                batching(big, batch, dc, "not measured (copies of the row above)", "not measured", "-");
            }
        }
    }

    /** Per-batch and plan costs of batching {@code examples}; prints the row. */
    static void batching(List<Seq2SeqExample> examples, int batch, DataConfig dc, String missCol, String hitCol,
            String entryMb) {
        int rounds = 7;
        int perRound = 1000;
        Batcher batcher = new Batcher(examples, batch, 42, dc);
        BatcherSource source = new BatcherSource(batcher);
        for (int i = 0; i < 10 * perRound; i++) {
            source.next(); // warm-up for the JIT (and epoch 0's plan)
        }
        double[] wallMedians = new double[rounds];
        double[] cpuMeans = new double[rounds];
        long[] t = new long[perRound];
        for (int r = 0; r < rounds; r++) {
            long c0 = THREADS.getCurrentThreadCpuTime();
            for (int i = 0; i < perRound; i++) {
                long s = System.nanoTime();
                source.next();
                t[i] = System.nanoTime() - s;
            }
            cpuMeans[r] = (THREADS.getCurrentThreadCpuTime() - c0) / 1e3 / perRound;
            Arrays.sort(t);
            wallMedians[r] = t[perRound / 2] / 1e3;
        }
        // Plan builds of fresh epochs, after the JIT has seen them: CPU time of each.
        double[] plans = new double[3];
        for (int k = 0; k < plans.length; k++) {
            long c0 = THREADS.getCurrentThreadCpuTime();
            batcher.shapes(1000 + k);
            plans[k] = (THREADS.getCurrentThreadCpuTime() - c0) / 1e6;
        }
        Arrays.sort(wallMedians);
        Arrays.sort(cpuMeans);
        Arrays.sort(plans);
        System.out.printf(Locale.ROOT, "| %d | %s | %s | %s | %.2f | %.1f (%.1f-%.1f) | %.1f (%.1f-%.1f) | %.1f | %d | %.3f |%n",
                examples.size(), missCol, hitCol, entryMb, plans[1],
                wallMedians[rounds / 2], wallMedians[0], wallMedians[rounds - 1],
                cpuMeans[rounds / 2], cpuMeans[0], cpuMeans[rounds - 1], plans[1] * 1e3 / batcher.batchesPerEpoch(),
                batcher.shapes(0).size(),
                batcher.paddingStats(0).efficiency());
    }
}
