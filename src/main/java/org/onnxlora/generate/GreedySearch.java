package org.onnxlora.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Greedy decoding as Hugging Face does it: the constraints act on raw logits, the
 * arg-max wins, and a finished row keeps being fed the pad token (rows cannot leave
 * the batch) until every row has finished or the length limit is reached.
 */
final class GreedySearch {
    private GreedySearch() {}

    /** Generated ids per example, start token excluded, EOS included when it was produced. */
    static List<long[]> run(StepModel model, SourceBatch sources, GenerationConfig config) {
        int rows = sources.batch();
        int maxLength = config.maxLength();
        TokenRules rules = new TokenRules(config);
        long[][] history = new long[rows][maxLength];
        int[] finishedAt = new int[rows]; // length including EOS; 0 = still running
        long[] newest = new long[rows];
        Arrays.fill(newest, config.decoderStartTokenId());
        for (long[] h : history) {
            h[0] = config.decoderStartTokenId();
        }
        int len = 1;
        try (StepModel.Decoding decoding = model.start(sources, 1)) {
            while (len < maxLength) {
                StepModel.Logits logits = decoding.step(newest, null);
                float[] v = logits.values();
                boolean anyRunning = false;
                for (int r = 0; r < rows; r++) {
                    if (finishedAt[r] != 0) {
                        newest[r] = config.padTokenId();
                        history[r][len] = config.padTokenId();
                        continue;
                    }
                    int off = logits.offset(r);
                    rules.apply(v, off, logits.vocab(), history[r], len);
                    long token = argmax(v, off, logits.vocab());
                    newest[r] = token;
                    history[r][len] = token;
                    if (token == config.eosTokenId()) {
                        finishedAt[r] = len + 1;
                    } else {
                        anyRunning = true;
                    }
                }
                len++;
                if (!anyRunning) {
                    break;
                }
            }
        }
        List<long[]> out = new ArrayList<>(rows);
        for (int r = 0; r < rows; r++) {
            int end = finishedAt[r] != 0 ? finishedAt[r] : len;
            out.add(Arrays.copyOfRange(history[r], 1, end));
        }
        return out;
    }

    /** Index of the largest value; the first one on ties, as torch.argmax. */
    static int argmax(float[] v, int offset, int n) {
        int best = 0;
        float bestValue = v[offset];
        for (int i = 1; i < n; i++) {
            if (v[offset + i] > bestValue) {
                bestValue = v[offset + i];
                best = i;
            }
        }
        return best;
    }
}
