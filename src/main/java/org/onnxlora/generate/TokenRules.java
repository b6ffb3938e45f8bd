package org.onnxlora.generate;

/**
 * The constraints of {@link GenerationConfig} applied to one row's next-token
 * scores, in Hugging Face's order (no-repeat-ngram, min length, forced BOS, forced
 * EOS). A forbidden token gets −∞; a forced token keeps 0 and every other −∞.
 * They work on raw logits (greedy) and on log-probabilities (beam search) alike.
 */
final class TokenRules {
    private final GenerationConfig config;

    TokenRules(GenerationConfig config) {
        this.config = config;
    }

    /**
     * @param scores the row's scores at {@code offset .. offset + vocab}
     * @param history the row's decoder tokens so far, start token first
     * @param len how many entries of {@code history} are valid
     */
    void apply(float[] scores, int offset, int vocab, long[] history, int len) {
        int n = config.noRepeatNgramSize();
        if (n > 0 && len + 1 >= n) {
            banRepeatedNgrams(scores, offset, vocab, history, len, n);
        }
        if (len < config.minLength()) {
            forbid(scores, offset, vocab, config.eosTokenId());
        }
        if (len == 1 && config.forcedBosTokenId().isPresent()) {
            force(scores, offset, vocab, config.forcedBosTokenId().getAsInt());
        }
        if (len == config.maxLength() - 1 && config.forcedEosTokenId().isPresent()) {
            force(scores, offset, vocab, config.forcedEosTokenId().getAsInt());
        }
    }

    /** Bans every token that would complete an n-gram already present in the history. */
    static void banRepeatedNgrams(float[] scores, int offset, int vocab, long[] history, int len, int n) {
        int prefixStart = len - (n - 1); // the last n-1 tokens: the n-gram's would-be prefix
        for (int i = 0; i + n - 1 < len; i++) {
            boolean same = true;
            for (int j = 0; j < n - 1 && same; j++) {
                same = history[i + j] == history[prefixStart + j];
            }
            if (same) {
                forbid(scores, offset, vocab, history[i + n - 1]);
            }
        }
    }

    private static void forbid(float[] scores, int offset, int vocab, long token) {
        if (token >= 0 && token < vocab) {
            scores[offset + (int) token] = Float.NEGATIVE_INFINITY;
        }
    }

    private static void force(float[] scores, int offset, int vocab, long token) {
        java.util.Arrays.fill(scores, offset, offset + vocab, Float.NEGATIVE_INFINITY);
        if (token >= 0 && token < vocab) {
            scores[offset + (int) token] = 0f;
        }
    }
}
