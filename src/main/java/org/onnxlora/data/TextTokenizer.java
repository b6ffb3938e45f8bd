package org.onnxlora.data;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * A Hugging Face {@code tokenizer.json} (through DJL's Rust binding) that encodes text to
 * model ids with the tokenizer's own special tokens ({@code <s> … </s>} for BART) and
 * truncates to a length while keeping those special tokens.
 *
 * <p>DJL's own truncation and padding are switched off: padding is the batcher's job, and
 * truncating here lets one tokenizer serve the source and target lengths. The result equals
 * Hugging Face's {@code truncation=True, max_length=n} (the post-processor's tokens are kept,
 * the text is cut).
 */
public final class TextTokenizer implements AutoCloseable {
    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    private final int vocabSize;
    private final SpecialTokens special;
    /** How many ids the post-processor puts before and after the text (1 and 1 for BART). */
    private final int prefix;
    private final int suffix;

    private TextTokenizer(Path file, HuggingFaceTokenizer tokenizer, TokenizerFile info) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.vocabSize = info.vocabSize();
        this.special = info.specialTokens();
        // Learn the template from one encoding with and without special tokens.
        long[] plain = tokenizer.encode("a", false, false).getIds();
        long[] full = tokenizer.encode("a", true, false).getIds();
        int at = indexOf(full, plain);
        if (at < 0) {
            throw new OnnxLoraException(ErrorCode.IO, "invalid tokenizer " + file
                    + ": its post-processor changes the text's tokens, so truncation cannot keep the special tokens");
        }
        this.prefix = at;
        this.suffix = full.length - at - plain.length;
    }

    /** Loads a {@code tokenizer.json}; errors name the file. */
    public static TextTokenizer load(Path tokenizerJson) {
        if (!Files.isRegularFile(tokenizerJson)) {
            throw new OnnxLoraException(ErrorCode.IO, "tokenizer file not found: " + tokenizerJson);
        }
        TokenizerFile info = TokenizerFile.read(tokenizerJson);
        DjlNatives.prepare();
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(tokenizerJson,
                    Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false"));
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read tokenizer " + tokenizerJson + ": " + IoErrors.reason(e), e);
        } catch (UnsatisfiedLinkError | ExceptionInInitializerError | NoClassDefFoundError e) {
            throw nativeFailure(e);
        } catch (RuntimeException e) {
            if (e.getClass().getName().equals("ai.djl.engine.EngineException")) {
                throw nativeFailure(e);
            }
            // The Rust side rejects malformed tokenizers with a RuntimeException carrying its reason.
            throw new OnnxLoraException(ErrorCode.IO, "invalid tokenizer " + tokenizerJson + ": " + e.getMessage(), e);
        }
        try {
            return new TextTokenizer(tokenizerJson, hf, info);
        } catch (RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    private static OnnxLoraException nativeFailure(Throwable e) {
        return new OnnxLoraException(ErrorCode.IO, "cannot load the tokenizers native library (extracted to "
                + DjlNatives.location() + "; set DJL_CACHE_DIR to a writable directory or RUST_LIBRARY_PATH to a "
                + "libtokenizers you provide): " + e, e);
    }

    /**
     * Ids of {@code text} with the tokenizer's special tokens, at most {@code maxLength} long;
     * longer texts are cut at the end and keep their closing special token(s).
     */
    public long[] encode(String text, int maxLength) {
        checkMaxLength(maxLength);
        return truncate(tokenizer.encode(text, true, false).getIds(), maxLength);
    }

    /** {@link #encode} for many texts in one native call (parallel in Rust); same results, same order. */
    public List<long[]> encodeAll(List<String> texts, int maxLength) {
        checkMaxLength(maxLength);
        if (texts.isEmpty()) {
            return List.of();
        }
        Encoding[] encodings = tokenizer.batchEncode(texts.toArray(String[]::new), true, false);
        List<long[]> out = new ArrayList<>(encodings.length);
        for (Encoding e : encodings) {
            out.add(truncate(e.getIds(), maxLength));
        }
        return out;
    }

    /** Text of {@code ids}; ids must be real token ids (replace ignored labels, -100, first). */
    public String decode(long[] ids, boolean skipSpecial) {
        for (long id : ids) {
            if (id < 0 || id >= vocabSize) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT,
                        "cannot decode id " + id + ": the vocabulary of " + file + " has ids 0.." + (vocabSize - 1));
            }
        }
        return tokenizer.decode(ids, skipSpecial);
    }

    /** Rows an embedding table needs for this tokenizer: highest id + 1, added tokens included. */
    public int vocabSize() {
        return vocabSize;
    }

    public SpecialTokens specialTokens() {
        return special;
    }

    public int padId() {
        return special.pad();
    }

    public int bosId() {
        return special.bos();
    }

    public int eosId() {
        return special.eos();
    }

    public Path file() {
        return file;
    }

    /** Fails when the tokenizer can produce ids the model's embedding ({@code modelVocab} rows) does not have. */
    public void checkFits(long modelVocab) {
        if (vocabSize > modelVocab) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "tokenizer " + file + " has a vocabulary of "
                    + vocabSize + " tokens but the model's embedding has only " + modelVocab
                    + " rows; use the tokenizer the model was trained with");
        }
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    /** Cuts a full encoding to {@code maxLength}, keeping the post-processor's leading and trailing special tokens. */
    public long[] truncate(long[] ids, int maxLength) {
        checkMaxLength(maxLength);
        if (ids.length <= maxLength) {
            return ids;
        }
        long[] out = Arrays.copyOf(ids, maxLength);
        System.arraycopy(ids, ids.length - suffix, out, maxLength - suffix, suffix);
        return out;
    }

    private void checkMaxLength(int maxLength) {
        if (maxLength < prefix + suffix + 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "maximum length " + maxLength
                    + " leaves no room for text next to the tokenizer's " + (prefix + suffix) + " special tokens");
        }
    }

    private static int indexOf(long[] haystack, long[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
