package org.onnxlora.generate;

import java.util.OptionalInt;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * How to generate, with Hugging Face's meaning for every field so that a model's
 * {@code generation_config.json} carries over unchanged.
 *
 * @param maxNewTokens most tokens generated after the decoder start token (HF {@code max_new_tokens})
 * @param minLength EOS is forbidden while the decoder sequence, <em>start token included</em>, is
 *     shorter than this (HF {@code min_length}; 0 = off)
 * @param numBeams 1 = greedy search, more = beam search
 * @param lengthPenalty a finished beam scores {@code sum(logprob) / generatedLength^lengthPenalty};
 *     the length counts generated tokens including EOS (current HF); 0 = plain sum
 * @param earlyStopping true: an example is done as soon as it has {@code numBeams} finished
 *     hypotheses; false: done when no running beam can still beat the worst finished one (HF's
 *     heuristic, exact when {@code lengthPenalty <= 0})
 * @param noRepeatNgramSize forbid any n-gram of this size from occurring twice in one output (0 = off);
 *     the decoder start token counts as part of the sequence, as in HF
 * @param decoderStartTokenId first decoder input (BART: {@code </s>} = 2)
 * @param eosTokenId generation of a sequence stops after this token
 * @param padTokenId pads sources, and is fed for sequences that have already finished
 * @param forcedBosTokenId if present, the first generated token is this one (mBART-style)
 * @param forcedEosTokenId if present, the last token allowed by {@code maxNewTokens} is forced to be
 *     this one (BART checkpoints set {@code forced_eos_token_id=2})
 */
public record GenerationConfig(int maxNewTokens, int minLength, int numBeams, double lengthPenalty,
        boolean earlyStopping, int noRepeatNgramSize, long decoderStartTokenId, long eosTokenId, long padTokenId,
        OptionalInt forcedBosTokenId, OptionalInt forcedEosTokenId) {

    /** BART's ids, greedy, 64 new tokens, nothing forced. */
    public static final GenerationConfig DEFAULT = new GenerationConfig(64, 0, 1, 1.0, false, 0, 2, 2, 1,
            OptionalInt.empty(), OptionalInt.empty());

    public GenerationConfig {
        if (maxNewTokens < 1) {
            throw bad("maxNewTokens must be >= 1, got " + maxNewTokens);
        }
        if (minLength < 0) {
            throw bad("minLength must be >= 0, got " + minLength);
        }
        if (numBeams < 1) {
            throw bad("numBeams must be >= 1, got " + numBeams);
        }
        if (noRepeatNgramSize < 0) {
            throw bad("noRepeatNgramSize must be >= 0, got " + noRepeatNgramSize);
        }
        if (!Double.isFinite(lengthPenalty)) {
            throw bad("lengthPenalty must be finite, got " + lengthPenalty);
        }
        if (decoderStartTokenId < 0 || eosTokenId < 0 || padTokenId < 0) {
            throw bad("token ids must be >= 0");
        }
        if (forcedBosTokenId == null || forcedEosTokenId == null) {
            throw bad("forced token ids must be OptionalInt.empty() rather than null");
        }
    }

    private static OnnxLoraException bad(String message) {
        return new OnnxLoraException(ErrorCode.BAD_ARGUMENT, message);
    }

    /** Total decoder length (start token included) at which generation stops, as HF's {@code max_length}. */
    int maxLength() {
        return maxNewTokens + 1;
    }

    public GenerationConfig withMaxNewTokens(int v) {
        return new GenerationConfig(v, minLength, numBeams, lengthPenalty, earlyStopping, noRepeatNgramSize,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withMinLength(int v) {
        return new GenerationConfig(maxNewTokens, v, numBeams, lengthPenalty, earlyStopping, noRepeatNgramSize,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withNumBeams(int v) {
        return new GenerationConfig(maxNewTokens, minLength, v, lengthPenalty, earlyStopping, noRepeatNgramSize,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withLengthPenalty(double v) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, v, earlyStopping, noRepeatNgramSize,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withEarlyStopping(boolean v) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, lengthPenalty, v, noRepeatNgramSize,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withNoRepeatNgramSize(int v) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, lengthPenalty, earlyStopping, v,
                decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withTokens(long decoderStart, long eos, long pad) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, lengthPenalty, earlyStopping,
                noRepeatNgramSize, decoderStart, eos, pad, forcedBosTokenId, forcedEosTokenId);
    }

    public GenerationConfig withForcedBosTokenId(OptionalInt v) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, lengthPenalty, earlyStopping,
                noRepeatNgramSize, decoderStartTokenId, eosTokenId, padTokenId, v, forcedEosTokenId);
    }

    public GenerationConfig withForcedEosTokenId(OptionalInt v) {
        return new GenerationConfig(maxNewTokens, minLength, numBeams, lengthPenalty, earlyStopping,
                noRepeatNgramSize, decoderStartTokenId, eosTokenId, padTokenId, forcedBosTokenId, v);
    }
}
