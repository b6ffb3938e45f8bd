package org.onnxlora.data;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.io.IoErrors;

/**
 * Tokenized data sets kept on disk, so that loading the same data again costs a hash of the
 * files instead of a tokenization. An entry is named by a SHA-256 over everything the result
 * depends on: the data file's bytes and path (its skip reasons name it), the tokenizer.json's
 * bytes, the reader options, the maximum lengths, the DJL tokenizers version and this cache's
 * format version. Entries are written atomically and checked in full when read; a damaged or
 * foreign entry is rebuilt, never used.
 */
public final class TokenCache {
    /** What a load found in the cache. */
    public enum Outcome {
        /** Read from the cache; nothing was tokenized. */
        HIT,
        /** Not cached yet: tokenized and stored. */
        MISS,
        /** The entry was damaged: tokenized again and replaced. */
        REBUILT,
        /** Tokenized, but the entry could not be written (the data set is still good). */
        NOT_STORED
    }

    /** A data set and how the cache produced it. */
    public record Loaded(Dataset dataset, Outcome outcome, Path entry) {}

    private final Path dir;

    public TokenCache(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** {@link Dataset#load}, through the cache. */
    public Loaded load(Path file, ReaderOptions options, TextTokenizer tokenizer, DataConfig config, Progress progress) {
        if (!Files.isRegularFile(file)) {
            throw new OnnxLoraException(ErrorCode.IO, "data file not found: " + file);
        }
        byte[] key = key(file, options, tokenizer, config, progress);
        Path entry = dir.resolve(HexFormat.of().formatHex(key) + ".tokens");
        Outcome outcome = Outcome.MISS;
        if (Files.exists(entry)) {
            try {
                Dataset d = TokenCacheFile.read(entry, key, config.maxSourceLength(), config.maxTargetLength(),
                        tokenizer.vocabSize());
                return new Loaded(d, Outcome.HIT, entry);
            } catch (TokenCacheFile.Damaged | IOException e) {
                outcome = Outcome.REBUILT;
            }
        }
        Dataset d = Dataset.load(file, options, tokenizer, config, progress);
        try {
            TokenCacheFile.write(entry, key, d);
        } catch (IOException e) {
            // A cache is an optimisation: a read-only or full disk must not stop the work.
            return new Loaded(d, Outcome.NOT_STORED, entry);
        }
        return new Loaded(d, outcome, entry);
    }

    static byte[] key(Path file, ReaderOptions options, TextTokenizer tokenizer, DataConfig config, Progress progress) {
        MessageDigest md = sha256();
        StringBuilder meta = new StringBuilder("onnx-lora token cache ").append(TokenCacheFile.VERSION)
                .append("\ndjl ").append(HuggingFaceTokenizer.class.getPackage().getImplementationVersion())
                .append("\nfile ").append(file).append('\n').append(file.toAbsolutePath().normalize())
                .append("\nformat ").append(options.format() != null ? options.format() : DataFormat.of(file))
                .append("\nfields ").append(options.sourceField()).append('\u0000').append(options.targetField())
                .append("\nskip ").append(options.skipBadRows())
                .append("\nmax ").append(config.maxSourceLength()).append('/').append(config.maxTargetLength())
                .append('\n');
        md.update(meta.toString().getBytes(StandardCharsets.UTF_8));
        md.update(digest(tokenizer.file(), Progress.NONE));
        md.update(digest(file, progress));
        return md.digest();
    }

    /** SHA-256 of a file's bytes, with progress in bytes (hashing a large corpus takes a moment). */
    private static byte[] digest(Path file, Progress progress) {
        MessageDigest md = sha256();
        try (InputStream in = Files.newInputStream(file)) {
            long size = Files.size(file);
            progress.start("Hash " + file.getFileName(), size);
            byte[] buf = new byte[1 << 20];
            long done = 0;
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
                done += n;
                progress.advance(done, "");
            }
            progress.finish();
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
        return md.digest();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
