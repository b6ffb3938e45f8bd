package org.onnxlora.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** The step loop over several in-process members (one thread per device) and over the socket ring. */
class DataParallelLoopTest {
    static final List<String[]> ROWS = LeastSquaresWorker.rows(96);
    static final int BATCH = 3;
    static final int STEPS = 20;

    private final ExecutorService pool = Executors.newCachedThreadPool();

    @TempDir
    Path tmp;

    @AfterEach
    void stop() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
    }

    /** One worker over all {@code shards} shards (gradient accumulation): the reference. */
    static float[] single(int shards, Path dir) {
        LeastSquaresWorker w = new LeastSquaresWorker(0, 0, LeastSquaresWorker.shard(ROWS, shards), BATCH, dir, null, "m");
        List<AllReduce> one = LocalAllReduce.group(1, Duration.ofSeconds(5));
        DataParallelLoop.run(w, one.get(0), new DataParallelLoop.Options(STEPS, 5));
        return w.weights();
    }

    /** {@code n} members, member r on shard r; returns each member's weights. */
    private List<float[]> parallel(List<AllReduce> group, Path dir, LeastSquaresWorker.Fault fault, int attempt,
                                   long steps) throws Exception {
        int n = group.size();
        List<List<String[]>> shards = LeastSquaresWorker.shard(ROWS, n);
        List<Future<float[]>> fs = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            fs.add(pool.submit(() -> {
                try (AllReduce member = group.get(rank)) {
                    LeastSquaresWorker w = new LeastSquaresWorker(rank, attempt, List.of(shards.get(rank)), BATCH, dir,
                            fault, "m");
                    DataParallelLoop.run(w, member, new DataParallelLoop.Options(steps, 5));
                    return w.weights();
                }
            }));
        }
        List<float[]> out = new ArrayList<>();
        for (Future<float[]> f : fs) {
            out.add(f.get(60, TimeUnit.SECONDS));
        }
        return out;
    }

    @Test
    void oneTwoAndFourDevicesGiveTheSameWeightsAsOneWorkerAccumulating() throws Exception {
        for (int n : new int[] {1, 2, 4}) {
            float[] reference = single(n, tmp.resolve("single-" + n));
            List<float[]> got = parallel(LocalAllReduce.group(n, Duration.ofSeconds(30)), tmp.resolve("local-" + n), null, 0, STEPS);
            for (float[] w : got) {
                // the device-order sum is the accumulation order: bit-identical, not just close
                assertArrayEquals(reference, w, "n=" + n);
            }
        }
    }

    @Test
    void theSocketRingTrainsLikeTheInProcessSum() throws Exception {
        for (int n : new int[] {2, 3}) {
            MemoryExchange ex = new MemoryExchange(n, Duration.ofSeconds(30));
            List<Future<RingAllReduce>> joins = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                int size = n;
                joins.add(pool.submit(() -> RingAllReduce.join(rank, size, "m", ex, RingOptions.loopback())));
            }
            List<AllReduce> ring = new ArrayList<>();
            for (Future<RingAllReduce> j : joins) {
                ring.add(j.get(30, TimeUnit.SECONDS));
            }
            List<float[]> got = parallel(ring, tmp.resolve("ring-" + n), null, 0, STEPS);
            float[] reference = single(n, tmp.resolve("ref-" + n));
            for (float[] w : got) {
                assertArrayEquals(got.get(0), w, "every rank holds the same weights");
                assertTrue(maxRelative(reference, w) < 1e-6, "n=" + n + ": " + maxRelative(reference, w));
            }
            if (n == 2) {
                assertArrayEquals(reference, got.get(0), "two addends: the ring sums exactly like the host");
            }
        }
    }

    @Test
    void aFailedAttemptResumesFromTheLastCheckpointAndEndsBitIdentical() throws Exception {
        float[] uninterrupted = parallel(LocalAllReduce.group(2, Duration.ofSeconds(30)), tmp.resolve("a"), null, 0, STEPS).get(0);
        Path dir = tmp.resolve("b");
        LeastSquaresWorker.Fault fault = new LeastSquaresWorker.Fault(1, 13, 0, false);
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> parallel(LocalAllReduce.group(2, Duration.ofSeconds(30)), dir, fault, 0, STEPS));
        assertTrue(e.getCause() instanceof IllegalStateException || e.getCause() instanceof OnnxLoraException, e.toString());
        LeastSquaresWorker probe = new LeastSquaresWorker(0, 0, List.of(), BATCH, dir, null, "m");
        assertEquals(10, probe.latestCheckpoint(), "checkpoints every 5 steps: step 10 survived the failure at 13");
        List<float[]> resumed = parallel(LocalAllReduce.group(2, Duration.ofSeconds(30)), dir, fault, 1, STEPS);
        assertArrayEquals(uninterrupted, resumed.get(0));
        assertArrayEquals(uninterrupted, resumed.get(1));
    }

    @Test
    void aDeviceThatNeverArrivesFailsTheOthersNamingIt() throws Exception {
        List<AllReduce> g = LocalAllReduce.group(3, Duration.ofMillis(500));
        Future<?> a = pool.submit(() -> g.get(0).sum(new float[4], 1.0));
        Future<?> b = pool.submit(() -> g.get(2).sum(new float[4], 1.0));
        ExecutionException e = assertThrows(ExecutionException.class, () -> a.get(10, TimeUnit.SECONDS));
        ExecutionException e2 = assertThrows(ExecutionException.class, () -> b.get(10, TimeUnit.SECONDS));
        String both = e.getCause().getMessage() + " | " + e2.getCause().getMessage();
        assertTrue(both.contains("device 1 did not reach the all-reduce within 0 s"), both);
        assertEquals(ErrorCode.COLLECTIVE, ((OnnxLoraException) e.getCause()).code());
    }

    static double maxRelative(float[] a, float[] b) {
        double scale = 0;
        double diff = 0;
        for (int i = 0; i < a.length; i++) {
            scale = Math.max(scale, Math.abs(a[i]));
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
        }
        return diff / Math.max(scale, 1e-30);
    }
}
