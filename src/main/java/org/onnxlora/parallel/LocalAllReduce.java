package org.onnxlora.parallel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * All-reduce among several sessions of one process (one member per device, each used from its
 * own thread): the host adds the members' arrays in device order, {@code ((g0 + g1) + g2) + ...}
 * in float, which is exactly what one session accumulating the same micro-batches in that order
 * computes, and copies the sum back to every member.
 */
public final class LocalAllReduce {
    private final int size;
    private final Duration timeout;
    private final CyclicBarrier barrier;
    private final float[][] values;
    private final double[][] counts;
    private final boolean[] arrived;
    private volatile String failure;
    /** Set by {@link #reduce} before the barrier releases anyone, so every member sees it after waiting. */
    private String mismatch;
    private volatile int leftRank = -1;

    private LocalAllReduce(int size, Duration timeout) {
        this.size = size;
        this.timeout = timeout;
        this.values = new float[size][];
        this.counts = new double[size][];
        this.arrived = new boolean[size];
        this.barrier = new CyclicBarrier(size, this::reduce);
    }

    /** {@code size} members; a member that waits longer than {@code timeout} for the others fails naming them. */
    public static List<AllReduce> group(int size, Duration timeout) {
        if (size < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a data-parallel group needs at least one member, not " + size);
        }
        LocalAllReduce shared = new LocalAllReduce(size, timeout);
        List<AllReduce> members = new ArrayList<>(size);
        for (int i = 0; i < size; i++) {
            members.add(shared.new Member(i));
        }
        return List.copyOf(members);
    }

    /** Runs in the last member to arrive, while all others wait, so it may touch every member's arrays. */
    private void reduce() {
        int n = values[0].length;
        int k = counts[0].length;
        for (int i = 1; i < size; i++) {
            if (values[i].length != n || counts[i].length != k) {
                mismatch = "device " + i + " contributed " + values[i].length + " values and " + counts[i].length
                        + " counts to the all-reduce, device 0 " + n + " and " + k;
                clear();
                return;
            }
        }
        float[] sum = values[0].clone();
        double[] c = counts[0].clone();
        for (int i = 1; i < size; i++) {
            float[] v = values[i];
            for (int j = 0; j < n; j++) {
                sum[j] += v[j];
            }
            for (int j = 0; j < k; j++) {
                c[j] += counts[i][j];
            }
        }
        for (int i = 0; i < size; i++) {
            System.arraycopy(sum, 0, values[i], 0, n);
            System.arraycopy(c, 0, counts[i], 0, k);
        }
        clear();
    }

    private void clear() {
        Arrays.fill(values, null);
        Arrays.fill(counts, null);
        Arrays.fill(arrived, false);
    }

    private synchronized String missing() {
        List<Integer> absent = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            if (!arrived[i]) {
                absent.add(i);
            }
        }
        return absent.size() == 1 ? "device " + absent.get(0) : "devices " + absent;
    }

    private final class Member implements AllReduce {
        private final int rank;
        private boolean closed;

        Member(int rank) {
            this.rank = rank;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public void sum(float[] v, double[] c) {
            if (closed) {
                throw new IllegalStateException("all-reduce member " + rank + " is closed");
            }
            if (failure != null) {
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, failure);
            }
            if (size == 1) {
                return;
            }
            if (leftRank >= 0) {
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, "device " + leftRank + " left the all-reduce group");
            }
            String absent;
            synchronized (LocalAllReduce.this) {
                values[rank] = v;
                counts[rank] = c;
                arrived[rank] = true;
            }
            try {
                barrier.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                absent = missing();
                failure = absent + " did not reach the all-reduce within " + timeout.toSeconds() + " s";
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, failure);
            } catch (BrokenBarrierException e) {
                String f = failure;
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, f != null ? f : "the all-reduce group broke");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure = "device " + rank + " was interrupted in the all-reduce";
                barrier.reset();
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, failure, e);
            }
            if (mismatch != null) {
                failure = mismatch;
                throw new OnnxLoraException(ErrorCode.INTERNAL, mismatch);
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                leftRank = rank;
                // only members waiting for this one's contribution need waking: after the last
                // common step nobody waits, and a normal end must not fail the others
                if (size > 1 && failure == null && barrier.getNumberWaiting() > 0) {
                    failure = "device " + rank + " left the all-reduce group";
                    barrier.reset();
                }
            }
        }
    }
}
