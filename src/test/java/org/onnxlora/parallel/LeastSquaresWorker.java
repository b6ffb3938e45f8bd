package org.onnxlora.parallel;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.onnxlora.io.AtomicFiles;

/**
 * A CPU-only {@link DataParallelWorker} for testing the data-parallel plumbing (rendezvous, sums,
 * checkpoints, resume, Spark) without ONNX Runtime: a linear model over hashed characters of the
 * source text, a token-weighted squared loss against a number derived from the target, and Adam in
 * float, with the same shape of contract as the real trainer (summed gradients, token counts,
 * identical optimizer step on every rank). Its gradient has an odd length so ring chunks differ.
 *
 * <p>Each step takes {@code batch} rows from each of its shards at positions fixed by the step; a
 * worker given every shard (gradient accumulation, one shard after another) computes what N workers
 * given one shard each compute together.
 */
public final class LeastSquaresWorker implements DataParallelWorker {
    public static final int DIM = 5_003;

    /** Kills or fails this worker at one step of one attempt (for the resume tests). */
    public record Fault(int rank, long step, int attempt, boolean halt) implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    private final int rank;
    private final int attempt;
    private final List<List<String[]>> shards;
    private final int batch;
    private final Path checkpoints;
    private final Fault fault;
    private final String fingerprint;
    private final List<StepRecord> logged = new java.util.ArrayList<>();
    private long finishedAt = -1;
    private float[] w = new float[DIM];
    private float[] m = new float[DIM];
    private float[] v = new float[DIM];

    public LeastSquaresWorker(int rank, int attempt, List<List<String[]>> shards, int batch, Path checkpoints,
                              Fault fault, String fingerprint) {
        this.rank = rank;
        this.attempt = attempt;
        this.shards = shards;
        this.batch = batch;
        this.checkpoints = checkpoints;
        this.fault = fault;
        this.fingerprint = fingerprint;
    }

    /** Rows {@code 0..n-1}, deterministic text pairs of varied length. */
    public static List<String[]> rows(int n) {
        java.util.Random r = new java.util.Random(7);
        String letters = "abcdefghijklmnopqrstuvwxyz ";
        List<String[]> out = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder s = new StringBuilder();
            StringBuilder t = new StringBuilder();
            int ls = 5 + r.nextInt(40);
            int lt = 1 + r.nextInt(12);
            for (int j = 0; j < ls; j++) {
                s.append(letters.charAt(r.nextInt(letters.length())));
            }
            for (int j = 0; j < lt; j++) {
                t.append(letters.charAt(r.nextInt(letters.length())));
            }
            out.add(new String[] {s.toString(), t.toString()});
        }
        return out;
    }

    /** Row {@code i} of the rows goes to shard {@code i % n}, in row order. */
    public static List<List<String[]>> shard(List<String[]> rows, int n) {
        List<List<String[]>> shards = new java.util.ArrayList<>();
        for (int s = 0; s < n; s++) {
            shards.add(new java.util.ArrayList<>());
        }
        for (int i = 0; i < rows.size(); i++) {
            shards.get(i % n).add(rows.get(i));
        }
        return shards;
    }

    /** What the loop logged on this rank (rank 0 only). */
    public List<StepRecord> logged() {
        return List.copyOf(logged);
    }

    /** The step {@link #finish} was told, -1 if it was not called. */
    public long finishedAt() {
        return finishedAt;
    }

    public float[] weights() {
        return w.clone();
    }

    @Override
    public String fingerprint() {
        return fingerprint;
    }

    @Override
    public long latestCheckpoint() {
        if (!Files.isDirectory(checkpoints)) {
            return 0;
        }
        try (Stream<Path> files = Files.list(checkpoints)) {
            return files.map(p -> p.getFileName().toString()).filter(f -> f.matches("step-\\d+\\.bin"))
                    .mapToLong(f -> Long.parseLong(f.substring(5, f.length() - 4))).max().orElse(0);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void restore(long step) {
        if (step == 0) {
            return;
        }
        try (DataInputStream in = new DataInputStream(Files.newInputStream(file(step)))) {
            for (float[] a : new float[][] {w, m, v}) {
                for (int i = 0; i < DIM; i++) {
                    a[i] = in.readFloat();
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public StepGradients computeGradients(long step) {
        if (fault != null && fault.rank() == rank && fault.step() == step && fault.attempt() == attempt) {
            if (fault.halt()) {
                Runtime.getRuntime().halt(137); // the process dies mid-step, sockets and all
            }
            throw new IllegalStateException("injected failure of rank " + rank + " at step " + step);
        }
        float[] total = null;
        double tokens = 0;
        double loss = 0;
        double real = 0;
        for (List<String[]> shard : shards) {
            float[] g = new float[DIM];
            for (int b = 0; b < batch; b++) {
                String[] row = shard.get((int) (((step - 1) * batch + b) % shard.size()));
                int[] idx = features(row[0]);
                float y = (row[1].hashCode() & 0xff) / 255f;
                float pred = 0;
                for (int i : idx) {
                    pred += w[i];
                }
                float err = pred - y;
                int tok = row[1].length();
                tokens += tok;
                real += tok + row[0].length();
                loss += (double) tok * err * err;
                for (int i : idx) {
                    g[i] += 2f * tok * err;
                }
            }
            if (total == null) {
                total = g;
            } else {
                for (int i = 0; i < DIM; i++) {
                    total[i] += g[i]; // micro-batches add up in shard order, as the device-order sum does
                }
            }
        }
        return new StepGradients(total, tokens, loss, real);
    }

    private static int[] features(String s) {
        int[] idx = new int[s.length()];
        for (int i = 0; i < s.length(); i++) {
            idx[i] = Math.floorMod(s.substring(Math.max(0, i - 2), i + 1).hashCode(), DIM);
        }
        return idx;
    }

    @Override
    public void applySummed(long step, float[] g, double tokens) {
        float scale = (float) (1.0 / Math.max(1.0, tokens));
        float b1 = 0.9f;
        float b2 = 0.999f;
        float c1 = (float) (1 - Math.pow(b1, step));
        float c2 = (float) (1 - Math.pow(b2, step));
        for (int i = 0; i < DIM; i++) {
            float gi = g[i] * scale;
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            w[i] -= 0.01f * (m[i] / c1) / ((float) Math.sqrt(v[i] / c2) + 1e-8f);
        }
    }

    @Override
    public void checkpoint(long step) {
        try {
            AtomicFiles.write(file(step), os -> {
                DataOutputStream out = new DataOutputStream(os);
                for (float[] a : new float[][] {w, m, v}) {
                    for (float x : a) {
                        out.writeFloat(x);
                    }
                }
                out.flush();
                return null;
            });
            // keep two: a new attempt may start while a failed attempt's rank 0 is still saving
            try (Stream<Path> files = Files.list(checkpoints)) {
                List<Path> old = files.filter(p -> p.getFileName().toString().matches("step-\\d+\\.bin")).sorted().toList();
                for (int i = 0; i < old.size() - 2; i++) {
                    Files.deleteIfExists(old.get(i));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void logStep(StepRecord record) {
        logged.add(record);
    }

    @Override
    public void finish(long steps) {
        finishedAt = steps;
    }

    private Path file(long step) {
        return checkpoints.resolve(String.format("step-%06d.bin", step));
    }

    @Override
    public void close() {}
}
