package org.onnxlora.train;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Function;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.data.BatchSplit;
import org.onnxlora.parallel.AllReduce;
import org.onnxlora.parallel.LocalAllReduce;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * Several training sessions of one process (one per device) that act as one: each micro-batch's
 * rows are dealt across them by tokens ({@link BatchSplit}), each session runs its share on its own
 * thread, and at the update the host sums gradients and token counts in device order
 * ({@link LocalAllReduce}) and every session applies the same summed step, so all hold identical
 * adapters and optimizer state. Session 0 is the one the {@link Trainer} evaluates and checkpoints.
 */
public final class DataParallelGroup implements GradientStep, AutoCloseable {
    private final List<TrainingSession> sessions;
    private final List<AllReduce> members;
    private final List<ExecutorService> threads = new ArrayList<>();
    private final boolean[] touched;
    /** Per device, nanoseconds its last update spent from reading its gradient to holding the sum. */
    private final long[] exchangeNanos;
    private boolean exchanged;

    /** Takes ownership of {@code sessions} (opened on their devices from one artifact folder). */
    public DataParallelGroup(List<TrainingSession> sessions, Duration timeout) {
        if (sessions.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a data-parallel group needs at least one session");
        }
        if (sessions.size() > 1 && sessions.stream().anyMatch(s -> s.lossScaler().isPresent())) {
            throw fp16OnSeveralDevices();
        }
        this.sessions = List.copyOf(sessions);
        this.members = LocalAllReduce.group(sessions.size(), timeout);
        this.touched = new boolean[sessions.size()];
        this.exchangeNanos = new long[sessions.size()];
        for (int i = 0; i < sessions.size(); i++) {
            int device = i;
            threads.add(Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "onnx-lora-device-" + device);
                t.setDaemon(true);
                return t;
            }));
        }
    }

    /** Opens one session per device on the same compiled {@code artifacts}. */
    public static DataParallelGroup open(Path artifacts, RuntimeOptions runtime, List<Device> devices, Duration timeout) {
        return open(artifacts, runtime, devices, timeout, TrainingSession.StepMode.SEPARATE);
    }

    /**
     * As {@link #open(Path, RuntimeOptions, List, Duration)}; a group of one device opens its session in
     * {@code alone} (the fused step, say), several always step separately: they sum their gradients
     * between the halves of a step.
     */
    public static DataParallelGroup open(Path artifacts, RuntimeOptions runtime, List<Device> devices, Duration timeout,
            TrainingSession.StepMode alone) {
        List<TrainingSession> sessions = new ArrayList<>();
        TrainingSession.StepMode mode = devices.size() == 1 ? alone : TrainingSession.StepMode.SEPARATE;
        try {
            for (Device d : devices) {
                sessions.add(new TrainingSession(artifacts, runtime.withDevice(d), mode));
            }
            return new DataParallelGroup(sessions, timeout);
        } catch (RuntimeException e) {
            sessions.forEach(TrainingSession::close);
            throw e;
        }
    }

    /** Fails in one line, before any work, for a group this precision cannot form. */
    public static void requireSupported(int devices, Precision precision) {
        if (devices > 1 && precision.needsLossScaling()) {
            throw fp16OnSeveralDevices();
        }
    }

    private static OnnxLoraException fp16OnSeveralDevices() {
        // each session would pick its own loss scale from its own share: the sums would mix scales
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "fp16 loss scaling runs on one device only;"
                + " use fp32, tf32 or bf16 with several devices");
    }

    /** The session that holds the group's state for evaluation and checkpoints. */
    public TrainingSession primary() {
        return sessions.get(0);
    }

    public int size() {
        return sessions.size();
    }

    @Override
    public TrainingSession.Pass forwardBackward(Batch batch) {
        List<Batch> shares = BatchSplit.deal(batch, sessions.size());
        List<TrainingSession.Pass> passes = onEveryDevice(d -> {
            Batch share = shares.get(d);
            if (share == null) {
                return new TrainingSession.Pass(0, 0);
            }
            touched[d] = true;
            return sessions.get(d).forwardBackward(share);
        });
        double loss = 0;
        double tokens = 0;
        for (TrainingSession.Pass p : passes) {
            loss += p.lossSum();
            tokens += p.tokens();
        }
        return new TrainingSession.Pass(loss, tokens);
    }

    @Override
    public double applyUpdate(double lr) {
        List<Double> norms = onEveryDevice(d -> {
            TrainingSession s = sessions.get(d);
            long t0 = System.nanoTime();
            // a session that got no rows this step contributes zeros (its accumulator holds the last step's)
            float[] g = touched[d] ? s.accumulatedGradients() : new float[s.adapterValues().length];
            double tokens = members.get(d).sum(g, touched[d] ? s.accumulatedTokens() : 0);
            s.setAccumulatedGradients(g, tokens);
            exchangeNanos[d] = System.nanoTime() - t0;
            touched[d] = false;
            return s.applyUpdate(lr);
        });
        exchanged = true;
        return norms.get(0);
    }

    /**
     * The slowest device's exchange in the last update: the step cannot go on before every device
     * holds the sum. Two clock reads per device and step, nothing on the devices themselves.
     */
    @Override
    public OptionalDouble allReduceSeconds() {
        if (!exchanged) {
            return OptionalDouble.empty();
        }
        long worst = 0;
        for (long n : exchangeNanos) {
            worst = Math.max(worst, n);
        }
        return OptionalDouble.of(worst / 1e9);
    }

    @Override
    public void setState(long step, AdapterValues adapters, AdapterValues expAvg, AdapterValues expAvgSq) {
        onEveryDevice(d -> {
            sessions.get(d).setState(step, adapters, expAvg, expAvgSq);
            return null;
        });
    }

    /** Runs {@code work} for every device on that device's thread; results in device order. */
    private <T> List<T> onEveryDevice(Function<Integer, T> work) {
        List<Future<T>> futures = new ArrayList<>();
        for (int d = 0; d < sessions.size(); d++) {
            int device = d;
            futures.add(threads.get(d).submit(() -> {
                try {
                    return work.apply(device);
                } catch (RuntimeException e) {
                    members.get(device).close(); // the others fail at the sum instead of waiting for this one
                    throw e;
                }
            }));
        }
        List<T> out = new ArrayList<>();
        RuntimeException first = null;
        for (Future<T> f : futures) {
            try {
                out.add(f.get());
            } catch (ExecutionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException r ? r
                        : new OnnxLoraException(ErrorCode.INTERNAL, "device thread failed: " + e.getCause(), e.getCause());
                // report the device that failed first in device order, not a peer that saw it leave
                if (first == null || (first instanceof OnnxLoraException o && o.code() == ErrorCode.COLLECTIVE)) {
                    first = cause;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new OnnxLoraException(ErrorCode.INTERNAL, "interrupted while the devices trained", e);
            }
        }
        if (first != null) {
            throw first;
        }
        return out;
    }

    @Override
    public void close() {
        threads.forEach(ExecutorService::shutdownNow);
        members.forEach(AllReduce::close);
        RuntimeException failed = null;
        for (TrainingSession s : sessions) {
            try {
                s.close();
            } catch (RuntimeException e) {
                failed = failed == null ? e : failed;
            }
        }
        if (failed != null) {
            throw failed;
        }
    }
}
