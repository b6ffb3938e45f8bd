package org.onnxlora.data;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorCompletionService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;

/**
 * A data file read and tokenized.
 *
 * @param skippedRows bad rows skipped while reading (0 unless skipping was asked for)
 * @param skipReasons {@code file:line: what} for the first few of them
 * @param truncatedSources examples whose source was cut to the maximum source length
 * @param truncatedTargets examples whose target was cut to the maximum target length
 */
public record Dataset(List<Seq2SeqExample> examples, int skippedRows, List<String> skipReasons,
        int truncatedSources, int truncatedTargets) {
    /** Texts tokenized per native call: large enough to amortise the call, small enough for progress. */
    static final int CHUNK = 1024;

    public Dataset {
        examples = List.copyOf(examples);
        skipReasons = List.copyOf(skipReasons);
    }

    /** Reads {@code file} and tokenizes every row. */
    public static Dataset load(Path file, ReaderOptions options, TextTokenizer tokenizer, DataConfig config,
            Progress progress) {
        ReadResult read = DataReader.read(file, options);
        return encode(read, tokenizer, config, progress);
    }

    /** Tokenizes rows already read, on one thread per core. */
    public static Dataset encode(ReadResult read, TextTokenizer tokenizer, DataConfig config, Progress progress) {
        return encode(read, tokenizer, config, progress, Runtime.getRuntime().availableProcessors(), CHUNK);
    }

    /**
     * Tokenizes rows already read, chunks of {@code chunk} rows on up to {@code threads} threads;
     * the result does not depend on either. One tokenizer serves all threads: Rust's
     * {@code Tokenizer::encode} takes {@code &self} (the type is {@code Sync}), and DJL's Java
     * side only reads final fields. Measured on 2 cores, DJL's own batch call did not use the
     * second one, so the parallelism is ours.
     */
    static Dataset encode(ReadResult read, TextTokenizer tokenizer, DataConfig config, Progress progress, int threads,
            int chunk) {
        List<TextPair> rows = read.rows();
        int chunks = (rows.size() + chunk - 1) / chunk;
        Seq2SeqExample[] out = new Seq2SeqExample[rows.size()];
        int[] cut = new int[2];
        progress.start("Tokenize " + read.file().getFileName(), rows.size());
        int workers = Math.max(1, Math.min(threads, chunks));
        if (workers == 1) {
            for (int c = 0; c < chunks; c++) {
                add(cut, encodeChunk(rows, c * chunk, Math.min(rows.size(), (c + 1) * chunk), tokenizer, config, out));
                progress.advance(Math.min(rows.size(), (c + 1) * chunk), "");
            }
        } else {
            ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
                Thread t = new Thread(r, "tokenize");
                t.setDaemon(true);
                return t;
            });
            try {
                ExecutorCompletionService<int[]> done = new ExecutorCompletionService<>(pool);
                for (int c = 0; c < chunks; c++) {
                    int start = c * chunk;
                    int end = Math.min(rows.size(), start + chunk);
                    done.submit(() -> encodeChunk(rows, start, end, tokenizer, config, out));
                }
                long finished = 0;
                for (int c = 0; c < chunks; c++) {
                    int[] counts = take(done);
                    add(cut, counts);
                    finished += counts[2];
                    progress.advance(finished, "");
                }
            } finally {
                pool.shutdownNow();
            }
        }
        progress.finish();
        return new Dataset(Arrays.asList(out), read.skippedRows(), read.skipReasons(), cut[0], cut[1]);
    }

    /** Encodes rows {@code start..end} into {@code out}; returns {cut sources, cut targets, rows}. */
    private static int[] encodeChunk(List<TextPair> rows, int start, int end, TextTokenizer tokenizer,
            DataConfig config, Seq2SeqExample[] out) {
        List<TextPair> part = rows.subList(start, end);
        // Encode in full, then cut, so truncation can be counted and reported.
        List<long[]> sources = tokenizer.encodeAll(part.stream().map(TextPair::source).toList(), Integer.MAX_VALUE);
        List<long[]> targets = tokenizer.encodeAll(part.stream().map(TextPair::target).toList(), Integer.MAX_VALUE);
        int[] counts = {0, 0, part.size()};
        for (int i = 0; i < part.size(); i++) {
            long[] s = sources.get(i);
            long[] t = targets.get(i);
            if (s.length > config.maxSourceLength()) {
                counts[0]++;
                s = tokenizer.truncate(s, config.maxSourceLength());
            }
            if (t.length > config.maxTargetLength()) {
                counts[1]++;
                t = tokenizer.truncate(t, config.maxTargetLength());
            }
            out[start + i] = new Seq2SeqExample(s, t);
        }
        return counts;
    }

    private static int[] take(ExecutorCompletionService<int[]> done) {
        try {
            Future<int[]> f = done.take();
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OnnxLoraException(ErrorCode.INTERNAL, "interrupted while tokenizing", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new OnnxLoraException(ErrorCode.INTERNAL, "tokenizing failed: " + e.getCause(), e.getCause());
        }
    }

    private static void add(int[] total, int[] counts) {
        total[0] += counts[0];
        total[1] += counts[1];
    }
}
