package org.onnxlora.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
    /** Texts tokenized per native call: large enough to use Rust's threads, small enough for progress. */
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

    /** Tokenizes rows already read. */
    public static Dataset encode(ReadResult read, TextTokenizer tokenizer, DataConfig config, Progress progress) {
        List<TextPair> rows = read.rows();
        List<Seq2SeqExample> out = new ArrayList<>(rows.size());
        int cutSources = 0;
        int cutTargets = 0;
        progress.start("Tokenize " + read.file().getFileName(), rows.size());
        for (int start = 0; start < rows.size(); start += CHUNK) {
            List<TextPair> chunk = rows.subList(start, Math.min(rows.size(), start + CHUNK));
            // Encode in full, then cut, so truncation can be counted and reported.
            List<long[]> sources = tokenizer.encodeAll(chunk.stream().map(TextPair::source).toList(), Integer.MAX_VALUE);
            List<long[]> targets = tokenizer.encodeAll(chunk.stream().map(TextPair::target).toList(), Integer.MAX_VALUE);
            for (int i = 0; i < chunk.size(); i++) {
                long[] s = sources.get(i);
                long[] t = targets.get(i);
                if (s.length > config.maxSourceLength()) {
                    cutSources++;
                    s = tokenizer.truncate(s, config.maxSourceLength());
                }
                if (t.length > config.maxTargetLength()) {
                    cutTargets++;
                    t = tokenizer.truncate(t, config.maxTargetLength());
                }
                out.add(new Seq2SeqExample(s, t));
            }
            progress.advance(start + chunk.size(), "");
        }
        progress.finish();
        return new Dataset(out, read.skippedRows(), read.skipReasons(), cutSources, cutTargets);
    }
}
