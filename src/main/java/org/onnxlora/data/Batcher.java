package org.onnxlora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.SortedSet;
import java.util.TreeSet;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Training batches bucketed by length. Each epoch: shuffle all examples, cut the order into
 * pools of {@code poolBatches × batchSize}, sort each pool by source length (then target
 * length), cut pools into batches, shuffle the batches. Batches hold similar lengths, so
 * little padding, while their order and content still change every epoch. Each batch is then
 * padded to a rung of {@link BatchPadding}'s ladders, so a run meets only a few shapes.
 *
 * <p>An epoch's plan is a pure function of (seed, epoch): nothing carries over from earlier
 * epochs, so a run resumed at any {@link DataPosition} sees the same batches as one that never
 * stopped. Every example is in exactly one batch per epoch; only the epoch's last batch in
 * sorted order can be short (pools are whole multiples of the batch size).
 *
 * <p>The plan of the epoch being served is built once and kept, so a batch costs only its own
 * collation, whatever the size of the data set.
 */
public final class Batcher {
    /** Pool size in batches; ~50 keeps batches varied yet nearly padding-free. */
    public static final int DEFAULT_POOL_BATCHES = 50;

    private final List<Seq2SeqExample> examples;
    private final int batchSize;
    private final long seed;
    private final int poolBatches;
    private final DataConfig config;
    private final BatchPadding padding;
    /**
     * Per example, its sort key without the index: (source length, target length) as one number.
     * Pools sort {@code lengthKey * n + index}, a single long per example, which orders exactly as
     * comparing (source length, target length, index) but sorts primitives instead of boxed ones.
     */
    private final long[] lengthKeys;
    private Plan current;
    private int planBuilds;

    /** One epoch's batches, as example indices in serving order. */
    private record Plan(int epoch, int[][] batches) {}

    public Batcher(List<Seq2SeqExample> examples, int batchSize, long seed, DataConfig config) {
        this(examples, batchSize, seed, config, DEFAULT_POOL_BATCHES);
    }

    /** {@code poolBatches = 1} gives plain random batching (sorting inside one batch changes nothing). */
    public Batcher(List<Seq2SeqExample> examples, int batchSize, long seed, DataConfig config, int poolBatches) {
        this(examples, batchSize, seed, config, poolBatches, BatchPadding.defaults(config));
    }

    public Batcher(List<Seq2SeqExample> examples, int batchSize, long seed, DataConfig config, int poolBatches,
            BatchPadding padding) {
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
        this.padding = padding;
        this.lengthKeys = lengthKeys(this.examples, padding);
    }

    private static long[] lengthKeys(List<Seq2SeqExample> examples, BatchPadding padding) {
        int sources = 0;
        int targets = 0;
        for (Seq2SeqExample e : examples) {
            if (e.sourceLength() > padding.source().max() || e.targetLength() > padding.target().max()) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "an example of " + e.sourceLength() + " source and "
                        + e.targetLength() + " target tokens is longer than the padding allows ("
                        + padding.source().max() + " and " + padding.target().max() + ")");
            }
            sources = Math.max(sources, e.sourceLength());
            targets = Math.max(targets, e.targetLength());
        }
        try {
            // Every pool key (lengthKey * n + index) must fit a long.
            Math.multiplyExact(Math.multiplyExact(sources + 1L, targets + 1L), (long) examples.size());
        } catch (ArithmeticException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, examples.size() + " examples of up to " + sources + "+"
                    + targets + " tokens are too many to bucket", e);
        }
        long[] keys = new long[examples.size()];
        for (int i = 0; i < keys.length; i++) {
            Seq2SeqExample e = examples.get(i);
            keys[i] = (long) e.sourceLength() * (targets + 1) + e.targetLength();
        }
        return keys;
    }

    public int batchesPerEpoch() {
        return (examples.size() + batchSize - 1) / batchSize;
    }

    public int exampleCount() {
        return examples.size();
    }

    public BatchPadding padding() {
        return padding;
    }

    /** Example indices of each batch of {@code epoch}, in the order they are served (a copy). */
    public List<int[]> plan(int epoch) {
        int[][] batches = epochPlan(epoch);
        List<int[]> out = new ArrayList<>(batches.length);
        for (int[] b : batches) {
            out.add(b.clone());
        }
        return List.copyOf(out);
    }

    /** Batch {@code position.batch()} of epoch {@code position.epoch()}. */
    public Batch batch(DataPosition position) {
        int[][] plan = epochPlan(Math.toIntExact(position.epoch()));
        if (position.batch() >= plan.length) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "batch " + position.batch() + " is past the end of an epoch of "
                    + plan.length + " batches");
        }
        return collate(plan[(int) position.batch()]);
    }

    /** The trainer's endless stream of this batcher's batches, starting at {@code from}. */
    public BatchSource source(DataPosition from) {
        return new BatcherSource(this, from);
    }

    /** Padding of an epoch's batches, from lengths alone (no batch is built). */
    public PaddingStats paddingStats(int epoch) {
        PaddingStats total = PaddingStats.EMPTY;
        for (int[] b : epochPlan(epoch)) {
            total = total.plus(new PaddingStats(realTokens(b), shapeOf(b).positions()));
        }
        return total;
    }

    /** The distinct shapes of an epoch's batches, from lengths alone. */
    public SortedSet<BatchShape> shapes(int epoch) {
        SortedSet<BatchShape> out = new TreeSet<>();
        for (int[] b : epochPlan(epoch)) {
            out.add(shapeOf(b));
        }
        return out;
    }

    /**
     * Every shape a batch of any epoch can have: the full and the short batch size, times the
     * rungs up to those the data's longest source and target pad to. A superset of each
     * epoch's {@link #shapes}, known without planning any epoch.
     */
    public SortedSet<BatchShape> possibleShapes() {
        int source = 0;
        int target = 0;
        for (Seq2SeqExample e : examples) {
            source = Math.max(source, e.sourceLength());
            target = Math.max(target, e.targetLength());
        }
        int[] sizes = examples.size() % batchSize == 0 || examples.size() < batchSize
                ? new int[] {Math.min(batchSize, examples.size())}
                : new int[] {batchSize, examples.size() % batchSize};
        SortedSet<BatchShape> out = new TreeSet<>();
        for (int size : sizes) {
            for (int s : padding.source().rungsUpTo(source)) {
                for (int t : padding.target().rungsUpTo(target)) {
                    out.add(new BatchShape(size, s, t));
                }
            }
        }
        return out;
    }

    /** How many epoch plans this batcher has built: one per epoch served in order. */
    synchronized int planBuilds() {
        return planBuilds;
    }

    /** The plan of {@code epoch}, built at most once while that epoch is served. */
    synchronized int[][] epochPlan(int epoch) {
        if (epoch < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "epoch must be non-negative, got " + epoch);
        }
        if (current == null || current.epoch() != epoch) {
            current = new Plan(epoch, buildPlan(epoch));
            planBuilds++;
        }
        return current.batches();
    }

    private int[][] buildPlan(int epoch) {
        Random rng = new Random(epochSeed(seed, epoch));
        int n = examples.size();
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        shuffle(order, rng);
        int pool = (int) Math.min(n, (long) poolBatches * batchSize);
        long[] keys = new long[pool];
        for (int start = 0; start < n; start += pool) {
            int end = Math.min(n, start + pool);
            for (int i = start; i < end; i++) {
                keys[i - start] = lengthKeys[order[i]] * n + order[i];
            }
            Arrays.sort(keys, 0, end - start);
            for (int i = start; i < end; i++) {
                order[i] = (int) (keys[i - start] % n);
            }
        }
        int[][] batches = new int[batchesPerEpoch()][];
        for (int b = 0; b < batches.length; b++) {
            batches[b] = Arrays.copyOfRange(order, b * batchSize, Math.min(n, (b + 1) * batchSize));
        }
        shuffle(batches, rng);
        return batches;
    }

    Batch collate(int[] indices) {
        List<Seq2SeqExample> rows = new ArrayList<>(indices.length);
        for (int i : indices) {
            rows.add(examples.get(i));
        }
        BatchShape shape = shapeOf(indices);
        return TeacherForcing.collate(rows, config, shape.sourceLength(), shape.targetLength());
    }

    private BatchShape shapeOf(int[] batch) {
        int maxSource = 0;
        int maxTarget = 0;
        for (int i : batch) {
            Seq2SeqExample e = examples.get(i);
            maxSource = Math.max(maxSource, e.sourceLength());
            maxTarget = Math.max(maxTarget, e.targetLength());
        }
        return new BatchShape(batch.length, padding.source().padTo(maxSource), padding.target().padTo(maxTarget));
    }

    private long realTokens(int[] batch) {
        long real = 0;
        for (int i : batch) {
            real += examples.get(i).sourceLength() + examples.get(i).targetLength();
        }
        return real;
    }

    /** Evaluation batches: the examples in their own order, cut every {@code batchSize}, never shuffled. */
    public static List<Batch> inOrder(List<Seq2SeqExample> examples, int batchSize, DataConfig config) {
        return inOrder(examples, batchSize, config, BatchPadding.exact(config));
    }

    /** {@link #inOrder(List, int, DataConfig)} with each batch padded to the ladders' rungs. */
    public static List<Batch> inOrder(List<Seq2SeqExample> examples, int batchSize, DataConfig config,
            BatchPadding padding) {
        checkBatchSize(batchSize);
        List<Batch> out = new ArrayList<>();
        for (int start = 0; start < examples.size(); start += batchSize) {
            List<Seq2SeqExample> rows = examples.subList(start, Math.min(examples.size(), start + batchSize));
            int source = 0;
            int target = 0;
            for (Seq2SeqExample e : rows) {
                source = Math.max(source, e.sourceLength());
                target = Math.max(target, e.targetLength());
            }
            out.add(TeacherForcing.collate(rows, config, padding.source().padTo(source), padding.target().padTo(target)));
        }
        return out;
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
