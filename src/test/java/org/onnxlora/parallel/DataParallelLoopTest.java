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

    /** Two ring members over loopback; the step timeout is long, so a hang would show. */
    private List<AllReduce> ring(int n) throws Exception {
        MemoryExchange ex = new MemoryExchange(n, Duration.ofSeconds(30));
        List<Future<RingAllReduce>> joins = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            int rank = r;
            joins.add(pool.submit(() -> RingAllReduce.join(rank, n, "m", ex, RingOptions.loopback())));
        }
        List<AllReduce> ring = new ArrayList<>();
        for (Future<RingAllReduce> j : joins) {
            ring.add(j.get(30, TimeUnit.SECONDS));
        }
        return ring;
    }

    /** Each rank runs the loop on its own worker ({@code wrap} may add a fault); returns each rank's error. */
    private List<String> errors(List<AllReduce> group, java.util.function.BiFunction<Integer, DataParallelWorker,
            DataParallelWorker> wrap) throws Exception {
        List<List<String[]>> shards = LeastSquaresWorker.shard(ROWS, group.size());
        List<Future<String>> fs = new ArrayList<>();
        for (int r = 0; r < group.size(); r++) {
            int rank = r;
            fs.add(pool.submit(() -> {
                try (AllReduce member = group.get(rank)) {
                    DataParallelWorker w = wrap.apply(rank, new LeastSquaresWorker(rank, 0, List.of(shards.get(rank)),
                            BATCH, tmp.resolve("verdict"), null, "m"));
                    DataParallelLoop.run(w, member, new DataParallelLoop.Options(STEPS, 5));
                    return "trained";
                } catch (OnnxLoraException e) {
                    return e.code() + ": " + e.getMessage();
                }
            }));
        }
        List<String> out = new ArrayList<>();
        for (Future<String> f : fs) {
            out.add(f.get(10, TimeUnit.SECONDS)); // far below the 60 s a peer would wait for a silent one
        }
        return out;
    }

    @Test
    void aForeignCheckpointFoundByRankZeroStopsEveryRankWithItsError() throws Exception {
        String why = "checkpoint step-5 belongs to a run with another model or configuration";
        List<String> got = errors(ring(3), (rank, w) -> rank != 0 ? w : new ForwardingWorker(w) {
            @Override
            public long latestCheckpoint() {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, why);
            }
        });
        assertEquals(List.of("BAD_ARGUMENT: " + why, "BAD_ARGUMENT: " + why, "BAD_ARGUMENT: " + why), got);
    }

    @Test
    void aRankThatCannotRestoreStopsEveryRankButAnIoErrorIsACrash() throws Exception {
        String why = "checkpoint step-0 holds adapters for another model (ü, too)";
        List<String> got = errors(ring(2), (rank, w) -> rank != 1 ? w : new ForwardingWorker(w) {
            @Override
            public void restore(long step) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, why);
            }
        });
        assertEquals(List.of("TARGET_MISMATCH: " + why, "TARGET_MISMATCH: " + why), got);
        // an IO error may pass: it fails the rank, and its peer loses it (a stage to retry)
        List<String> io = errors(ring(2), (rank, w) -> rank != 1 ? w : new ForwardingWorker(w) {
            @Override
            public void restore(long step) {
                throw new OnnxLoraException(ErrorCode.IO, "cannot read the checkpoint");
            }
        });
        assertEquals("IO: cannot read the checkpoint", io.get(1));
        assertTrue(io.get(0).startsWith("COLLECTIVE: "), io.get(0));
    }

    @Test
    void rankZeroLogsTheGlobalFiguresOfEachStepAndFinishes() throws Exception {
        List<AllReduce> group = LocalAllReduce.group(2, Duration.ofSeconds(30));
        List<List<String[]>> shards = LeastSquaresWorker.shard(ROWS, 2);
        List<Future<LeastSquaresWorker>> fs = new ArrayList<>();
        List<Future<DataParallelLoop.Result>> results = new ArrayList<>();
        List<LeastSquaresWorker> workers = List.of(
                new LeastSquaresWorker(0, 0, List.of(shards.get(0)), BATCH, tmp.resolve("log"), null, "m"),
                new LeastSquaresWorker(1, 0, List.of(shards.get(1)), BATCH, tmp.resolve("log"), null, "m"));
        for (int r = 0; r < 2; r++) {
            int rank = r;
            results.add(pool.submit(() -> DataParallelLoop.run(workers.get(rank), group.get(rank),
                    new DataParallelLoop.Options(STEPS, 5))));
        }
        List<Double> losses = results.get(0).get(60, TimeUnit.SECONDS).meanLosses();
        results.get(1).get(60, TimeUnit.SECONDS);
        List<StepRecord> log = workers.get(0).logged();
        assertEquals(STEPS, log.size());
        assertEquals(List.of(), workers.get(1).logged(), "rank 1 logs nothing");
        assertEquals(STEPS, workers.get(0).finishedAt());
        assertEquals(-1, workers.get(1).finishedAt());
        // the one worker accumulating both shards: its own loss is the global one
        LeastSquaresWorker both = new LeastSquaresWorker(0, 0, shards, BATCH, tmp.resolve("log-1"), null, "m");
        DataParallelLoop.run(both, LocalAllReduce.group(1, Duration.ofSeconds(5)).get(0),
                new DataParallelLoop.Options(STEPS, 5));
        for (int i = 0; i < STEPS; i++) {
            StepRecord r = log.get(i);
            StepRecord one = both.logged().get(i);
            assertEquals(i + 1, r.step());
            assertEquals(losses.get(i), r.loss());
            assertEquals(one.loss(), r.loss(), 1e-9 * Math.abs(one.loss()), "global mean at step " + r.step());
            assertEquals(one.lossTokens(), r.lossTokens());
            assertEquals(one.tokens(), r.tokens());
            assertEquals(2, r.workers());
            assertTrue(r.stepSeconds() >= r.allReduceSeconds() && r.allReduceSeconds() >= 0, r.toString());
        }
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
