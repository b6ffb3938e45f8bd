package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * How examples become model inputs.
 *
 * @param maxSourceLength longest encoder input in tokens, special tokens included (longer sources are cut)
 * @param maxTargetLength longest label sequence in tokens, special tokens included
 * @param padId id filling input positions past a sequence's end
 * @param decoderStartTokenId first decoder input; BART uses {@code </s>} (2)
 * @param ignoreIndex label value the loss skips (Hugging Face and PyTorch use -100)
 */
public record DataConfig(int maxSourceLength, int maxTargetLength, int padId, int decoderStartTokenId, int ignoreIndex) {
    public static final int DEFAULT_MAX_SOURCE_LENGTH = 256;
    public static final int DEFAULT_MAX_TARGET_LENGTH = 64;
    public static final int BART_DECODER_START_TOKEN_ID = 2;
    /** The loss's ignore index, {@link org.onnxlora.runtime.Seq2SeqSignature#IGNORE_INDEX}. */
    public static final int IGNORE_INDEX = (int) org.onnxlora.runtime.Seq2SeqSignature.IGNORE_INDEX;

    public DataConfig {
        if (maxSourceLength < 1) {
            throw bad("maximum source length must be at least 1, got " + maxSourceLength);
        }
        if (maxTargetLength < 1) {
            throw bad("maximum target length must be at least 1, got " + maxTargetLength);
        }
        if (padId < 0) {
            throw bad("pad token id must be a token id (>= 0), got " + padId);
        }
        if (decoderStartTokenId < 0) {
            throw bad("decoder start token id must be a token id (>= 0), got " + decoderStartTokenId);
        }
        if (ignoreIndex >= 0) {
            // A non-negative ignore index could be a real token, silently dropping it from the loss.
            throw bad("ignore index must be negative so it cannot be a token id, got " + ignoreIndex);
        }
    }

    /** Default lengths, BART's decoder start, -100 labels, and the given pad id. */
    public static DataConfig defaults(int padId) {
        return new DataConfig(DEFAULT_MAX_SOURCE_LENGTH, DEFAULT_MAX_TARGET_LENGTH, padId,
                BART_DECODER_START_TOKEN_ID, IGNORE_INDEX);
    }

    /** {@link #defaults} with the tokenizer's {@code <pad>}; fails if it has none. */
    public static DataConfig forTokenizer(TextTokenizer tokenizer) {
        if (tokenizer.padId() < 0) {
            throw bad("tokenizer " + tokenizer.file() + " has no <pad> token; give the pad id explicitly");
        }
        return defaults(tokenizer.padId());
    }

    public DataConfig withMaxLengths(int source, int target) {
        return new DataConfig(source, target, padId, decoderStartTokenId, ignoreIndex);
    }

    public DataConfig withDecoderStartTokenId(int id) {
        return new DataConfig(maxSourceLength, maxTargetLength, padId, id, ignoreIndex);
    }

    private static OnnxLoraException bad(String message) {
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, message);
    }
}
