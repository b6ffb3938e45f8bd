package org.onnxlora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.train.Batch;

/**
 * Training batches bucketed by length. Each epoch: shuffle all examples, cut the order into
 * pools of {@code poolBatches × batchSize}, sort each pool by source length (then target
 * length), cut pools into batches, shuffle the batches. Batches hold similar lengths, so
 * little padding, while their order and content still change every epoch.
 *
 * <p>An epoch's plan is a pure function of (seed, epoch): nothing carries over from earlier
 * epochs, so a run resumed at any {@link DataPosition} sees the same batches as one that never
 * stopped. Every example is in exactly one batch per epoch; only the epoch's last batch in
 * sorted order can be short (pools are whole multiples of the batch size).
 */
public final class Batcher {
    /** Pool size in batches; ~50 keeps batches varied yet nearly padding-free. */
    public static final int DEFAULT_POOL_BATCHES = 50;

    private final List<Seq2SeqExample> examples;
    private final int batchSize;
    private final long seed;
    private final int poolBatches;
    private final DataConfig config;

    public Batcher(List<Seq2SeqExample> examples, int batchSize, long seed, DataConfig config) {
        this(examples, batchSize, seed, config, DEFAULT_POOL_BATCHES);
    }

    /** {@code poolBatches = 1} gives plain random batching (sorting inside one batch changes nothing). */
    public Batcher(List<Seq2SeqExample> examples, int batchSize, long seed, DataConfig config, int poolBatches) {
        checkBatchSize(batchSize);
        if (poolBatches < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "bucketing pool must be at least 1 batch, got " + poolBatches);
        }
        if (examples.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_DATA, "no training examples to batch");
        }
        this.examples = List.copyOf(examples);
        this.batchSize = batchSize;
        this.seed = seed;
        this.poolBatches = poolBatches;
        this.config = config;
    }

    public int batchesPerEpoch() {
        return (examples.size() + batchSize - 1) / batchSize;
    }

    public int exampleCount() {
        return examples.size();
    }

    /** Example indices of each batch of {@code epoch}, in the order they are served. */
    public List<int[]> plan(int epoch) {
        if (epoch < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "epoch must be non-negative, got " + epoch);
        }
        Random rng = new Random(epochSeed(seed, epoch));
        int n = examples.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        shuffle(order, rng);
        Comparator<Integer> byLength = Comparator.<Integer>comparingInt(i -> examples.get(i).sourceLength())
                .thenComparingInt(i -> examples.get(i).targetLength())
                .thenComparingInt(i -> i);
        int pool = (int) Math.min(n, (long) poolBatches * batchSize);
        for (int start = 0; start < n; start += pool) {
            int end = Math.min(n, start + pool);
            Integer[] part = new Integer[end - start];
            for (int i = start; i < end; i++) {
                part[i - start] = order[i];
            }
            Arrays.sort(part, byLength);
            for (int i = start; i < end; i++) {
                order[i] = part[i - start];
            }
        }
        int[][] batches = new int[batchesPerEpoch()][];
        for (int b = 0; b < batches.length; b++) {
            batches[b] = Arrays.copyOfRange(order, b * batchSize, Math.min(n, (b + 1) * batchSize));
        }
        shuffle(batches, rng);
        return List.of(batches);
    }

    /** Batch {@code position.batch()} of epoch {@code position.epoch()}. */
    public Batch batch(DataPosition position) {
        List<int[]> plan = plan(position.epoch());
        if (position.batch() >= plan.size()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "batch " + position.batch() + " is past the end of an epoch of "
                    + plan.size() + " batches");
        }
        return collate(plan.get(position.batch()));
    }

    /** Batches from {@code from} (inclusive) to the end of epoch {@code epochs - 1}. */
    public BatchStream stream(DataPosition from, int epochs) {
        return new BatchStream(this, from, epochs);
    }

    /** Padding of an epoch's batches, from lengths alone (no batch is built). */
    public PaddingStats paddingStats(int epoch) {
        PaddingStats total = PaddingStats.EMPTY;
        for (int[] b : plan(epoch)) {
            total = total.plus(paddingStats(examples, b));
        }
        return total;
    }

    Batch collate(int[] indices) {
        List<Seq2SeqExample> rows = new ArrayList<>(indices.length);
        for (int i : indices) {
            rows.add(examples.get(i));
        }
        return TeacherForcing.collate(rows, config);
    }

    /** Evaluation batches: the examples in their own order, cut every {@code batchSize}, never shuffled. */
    public static List<Batch> inOrder(List<Seq2SeqExample> examples, int batchSize, DataConfig config) {
        checkBatchSize(batchSize);
        List<Batch> out = new ArrayList<>();
        for (int start = 0; start < examples.size(); start += batchSize) {
            out.add(TeacherForcing.collate(examples.subList(start, Math.min(examples.size(), start + batchSize)), config));
        }
        return out;
    }

    private static PaddingStats paddingStats(List<Seq2SeqExample> examples, int[] batch) {
        long real = 0;
        int maxSource = 0;
        int maxTarget = 0;
        for (int i : batch) {
            Seq2SeqExample e = examples.get(i);
            real += e.sourceLength() + e.targetLength();
            maxSource = Math.max(maxSource, e.sourceLength());
            maxTarget = Math.max(maxTarget, e.targetLength());
        }
        return new PaddingStats(real, (long) batch.length * (maxSource + maxTarget));
    }

    /**
     * Decorrelates (seed, epoch) into one seed (SplitMix64's finaliser), so neighbouring seeds
     * or epochs do not give related shuffles. java.util.Random is used because its sequence is
     * fixed by its specification: the same plan on every JDK.
     */
    static long epochSeed(long seed, int epoch) {
        long z = seed + 0x9E3779B97F4A7C15L * (epoch + 1L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Fisher-Yates, written out so the result does not depend on a library's shuffle. */
    private static void shuffle(int[] a, Random rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    private static void shuffle(int[][] a, Random rng) {
        for (int i = a.length - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int[] t = a[i];
            a[i] = a[j];
            a[j] = t;
        }
    }

    private static void checkBatchSize(int batchSize) {
        if (batchSize < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "batch size must be at least 1, got " + batchSize);
        }
    }
}
