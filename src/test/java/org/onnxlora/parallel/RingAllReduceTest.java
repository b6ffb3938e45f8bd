package org.onnxlora.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Ring members as threads of this JVM, over real loopback sockets. */
class RingAllReduceTest {
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() throws InterruptedException {
        pool.shutdownNow();
        assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
    }

    static float[] payload(int rank, int n) {
        Random r = new Random(1000L * rank + n);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextGaussian() * Math.exp(r.nextGaussian() * 3));
        }
        return v;
    }

    /** Each rank's thread joins, then runs {@code body}; returns what each returned, in rank order. */
    private <T> List<T> onRing(int size, RingOptions options, IntFunction<String> fingerprint,
                               RingBody<T> body) throws Exception {
        MemoryExchange exchange = new MemoryExchange(size, Duration.ofSeconds(30));
        List<Future<T>> futures = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            int rank = r;
            futures.add(pool.submit(() -> {
                try (RingAllReduce ring = RingAllReduce.join(rank, size, fingerprint.apply(rank), exchange, options)) {
                    return body.run(ring);
                }
            }));
        }
        List<T> out = new ArrayList<>();
        for (Future<T> f : futures) {
            out.add(f.get(60, TimeUnit.SECONDS));
        }
        return out;
    }

    interface RingBody<T> {
        T run(RingAllReduce ring) throws Exception;
    }

    @ParameterizedTest(name = "{1} floats on {0} ranks")
    @CsvSource({"1,1", "1,7", "1,73728", "2,1", "2,7", "2,73728", "2,442368", "3,1", "3,7", "3,73728", "3,442368",
            "4,1", "4,7", "4,73728", "4,442368", "1,442368"})
    void sumsEqualAPlainSumAndAreIdenticalOnEveryRank(int size, int n) throws Exception {
        List<float[]> results = onRing(size, RingOptions.loopback(), r -> "model", ring -> {
            float[] v = payload(ring.rank(), n);
            double[] counts = {ring.rank() + 1, 0.25 * ring.rank()};
            // three calls in a row: buffers and call numbers carry over between steps
            for (int call = 0; call < 3; call++) {
                float[] fresh = payload(ring.rank(), n);
                double[] c = {ring.rank() + 1, 0.25 * ring.rank()};
                ring.sum(fresh, c);
                if (call == 2) {
                    v = fresh;
                    counts = c;
                }
            }
            float[] withCounts = new float[n + 2];
            System.arraycopy(v, 0, withCounts, 0, n);
            withCounts[n] = (float) counts[0];
            withCounts[n + 1] = (float) counts[1];
            return withCounts;
        });
        for (int r = 1; r < size; r++) {
            assertArrayEquals(results.get(0), results.get(r), "rank " + r + " differs from rank 0");
        }
        float[] got = results.get(0);
        List<float[]> inputs = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            inputs.add(payload(r, n));
        }
        for (int i = 0; i < n; i++) {
            double exact = 0;
            double magnitude = 0;
            for (int r = 0; r < size; r++) {
                float x = inputs.get(r)[i];
                exact += x;
                magnitude += Math.abs(x);
            }
            // n - 1 float additions: each rounds by at most half an ulp of a partial sum <= magnitude
            assertTrue(Math.abs(got[i] - exact) <= size * Math.ulp((float) magnitude),
                    "element " + i + ": " + got[i] + " vs " + exact);
            if (size <= 2) {
                float plain = 0;
                for (int r = 0; r < size; r++) {
                    plain += inputs.get(r)[i];
                }
                assertEquals(plain, got[i], 0f, "two addends sum the same in any order");
            }
        }
        assertEquals(size * (size + 1) / 2.0, got[n], 0);
        assertEquals(0.25 * size * (size - 1) / 2.0, got[n + 1], 0);
    }

    @Test
    void workersWithDifferentModelsAreRefusedAtTheRendezvous() {
        Exception e = assertThrows(Exception.class, () -> onRing(3, RingOptions.loopback(),
                r -> r == 2 ? "b2c3d4e5f60718293a4b5c6d7e8f9012" : "a1b2c3d4e5f60718293a4b5c6d7e8f90", ring -> 0));
        OnnxLoraException cause = (OnnxLoraException) e.getCause();
        assertEquals(ErrorCode.BAD_ARGUMENT, cause.code());
        assertEquals("workers were given different models: rank 2 has b2c3d4e5f6071829…, rank 0 has a1b2c3d4e5f60718…",
                cause.getMessage());
    }

    @Test
    void aMemberThatCouldNotStartStillJoinsAndEveryMemberThrowsItsError() throws Exception {
        int size = 3;
        MemoryExchange exchange = new MemoryExchange(size, Duration.ofSeconds(30));
        OnnxLoraException missing = new OnnxLoraException(ErrorCode.RUNTIME, "CUDA is not available: no device 3");
        List<Future<String>> futures = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            int rank = r;
            futures.add(pool.submit(() -> {
                try (RingAllReduce ring = RingAllReduce.join(rank, size, rank == 1 ? null : "m",
                        rank == 1 ? missing : null, exchange, RingOptions.loopback())) {
                    return "joined";
                } catch (OnnxLoraException e) {
                    return (e == missing ? "own " : "") + e.code() + ": " + e.getMessage();
                }
            }));
        }
        List<String> got = new ArrayList<>();
        for (Future<String> f : futures) {
            got.add(f.get(10, TimeUnit.SECONDS)); // nobody waits for the connect timeout
        }
        assertEquals(List.of("RUNTIME: CUDA is not available: no device 3", "own RUNTIME: CUDA is not available: no device 3",
                "RUNTIME: CUDA is not available: no device 3"), got);
    }

    @Test
    void membersWithDifferentPayloadLengthsFailInsteadOfMixingNumbers() throws Exception {
        List<String> errors = onRing(2, RingOptions.loopback(), r -> "m", ring -> {
            try {
                ring.sum(new float[ring.rank() == 0 ? 10 : 12], 1.0);
                return "no error";
            } catch (OnnxLoraException e) {
                return e.code() + ": " + e.getMessage();
            }
        });
        assertTrue(errors.get(0).startsWith("INTERNAL: all-reduce members disagree on the payload"), errors.get(0));
        assertTrue(errors.get(1).startsWith("INTERNAL: all-reduce members disagree on the payload")
                || errors.get(1).startsWith("COLLECTIVE"), errors.get(1));
    }

    @Test
    void aPeerThatStopsAnsweringFailsItsNeighboursWithinTheTimeoutNamingIt() throws Exception {
        RingOptions opts = RingOptions.loopback().withStepTimeout(Duration.ofSeconds(2));
        long t0 = System.nanoTime();
        List<String> errors = onRing(3, opts, r -> "m", ring -> {
            if (ring.rank() == 1) {
                Thread.sleep(8000); // joined, then silent (a hung process): never calls sum
                return "silent";
            }
            try {
                ring.sum(new float[442_368], 1.0);
                return "no error";
            } catch (OnnxLoraException e) {
                return e.code() + ": " + e.getMessage();
            }
        });
        // rank 2 receives from rank 1: it names it. Rank 0 either cannot send to rank 1, or waits in vain
        // for rank 2 (which waits for rank 1) and times out at the same moment, or hears that rank 2 gave up
        assertTrue(errors.get(2).startsWith("COLLECTIVE: no all-reduce data from rank 1 (127.0.0.1:"), errors.get(2));
        assertTrue(errors.get(0).startsWith("COLLECTIVE: rank 1 (127.0.0.1:") && errors.get(0).contains("stopped reading")
                || errors.get(0).startsWith("COLLECTIVE: no all-reduce data from rank 2 (127.0.0.1:")
                || errors.get(0).startsWith("COLLECTIVE: rank 2 (127.0.0.1:") && errors.get(0).contains("closed"),
                errors.get(0));
        assertTrue(System.nanoTime() - t0 < 8_000_000_000L + 5_000_000_000L);
    }

    @Test
    void aPeerWhoseConnectionsDropFailsTheOthersAtOnce() throws Exception {
        RingOptions opts = RingOptions.loopback().withStepTimeout(Duration.ofSeconds(30));
        long t0 = System.nanoTime();
        List<String> errors = onRing(4, opts, r -> "m", ring -> {
            float[] v = new float[73_728];
            for (int step = 0; step < 5; step++) {
                if (ring.rank() == 2 && step == 3) {
                    ring.close(); // what the kernel does to the sockets of a killed process
                    return "gone";
                }
                try {
                    ring.sum(v, 1.0);
                } catch (OnnxLoraException e) {
                    return e.code() + ": " + e.getMessage();
                }
            }
            return "no error";
        });
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "failed at once, not after the 30 s timeout");
        assertTrue(errors.get(3).startsWith("COLLECTIVE: rank 2 (127.0.0.1:") && errors.get(3).contains("closed its"),
                errors.get(3));
        // the others hear it from a neighbour that gave up, or from rank 2 directly
        for (int r : new int[] {0, 1}) {
            assertTrue(errors.get(r).startsWith("COLLECTIVE: ") && errors.get(r).contains("(127.0.0.1:"), errors.get(r));
        }
    }

    @Test
    void aSingleMemberNeedsNoSockets() {
        try (RingAllReduce ring = RingAllReduce.join(0, 1, "m", (r, m) -> List.of(m), RingOptions.loopback())) {
            float[] v = {1, 2};
            assertEquals(3.0, ring.sum(v, 3.0));
            assertArrayEquals(new float[] {1, 2}, v);
        }
    }
}
