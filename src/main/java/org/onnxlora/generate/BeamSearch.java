package org.onnxlora.generate;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Beam search following Hugging Face's (vectorised, transformers ≥ 4.50) algorithm.
 *
 * <p>Per example and step: log-softmax each beam's logits, apply the constraints,
 * add the beam's running score, and take the best {@code 2·numBeams} (beam, token)
 * candidates. Candidates that end (EOS, or the length limit) among the best
 * {@code numBeams} become finished hypotheses scored {@code sum / len^lengthPenalty}
 * (len = generated tokens including EOS); the best {@code numBeams} candidates that
 * do not end keep running. An example is done when it has {@code numBeams} finished
 * hypotheses and either {@code earlyStopping} is set or its best running beam
 * (scored at its current length) cannot beat the worst finished one. Its rows are
 * then fed the pad token and nothing changes for it any more.
 *
 * <p>Rows are laid out example-major ({@code row = example · numBeams + beam}); the
 * first step expands only beam 0 (the others start at −1e9) so the beams diverge.
 */
final class BeamSearch {
    private static final float DEAD = -1.0e9f;

    private BeamSearch() {}

    /** The best finished hypothesis per example: generated ids, start token excluded, EOS included. */
    static List<long[]> run(StepModel model, SourceBatch sources, GenerationConfig config) {
        int k = config.numBeams();
        int batch = sources.batch();
        int rows = batch * k;
        int maxLength = config.maxLength();
        TokenRules rules = new TokenRules(config);

        long[][] seqs = new long[rows][maxLength];
        long[][] nextSeqs = new long[rows][maxLength];
        float[] running = new float[rows];
        for (int r = 0; r < rows; r++) {
            seqs[r][0] = config.decoderStartTokenId();
            running[r] = r % k == 0 ? 0f : DEAD;
        }
        FinishedBeams[] finished = new FinishedBeams[batch];
        boolean[] done = new boolean[batch];
        for (int b = 0; b < batch; b++) {
            finished[b] = new FinishedBeams(k);
        }
        long[] newest = new long[rows];
        Arrays.fill(newest, config.decoderStartTokenId());
        int[] parents = null;
        int len = 1;

        Candidates cand = new Candidates(2 * k);
        try (StepModel.Decoding decoding = model.start(sources, k)) {
            while (true) {
                StepModel.Logits logits = decoding.step(newest, parents);
                int vocab = logits.vocab();
                float[] v = logits.values();
                int[] nextParents = new int[rows];
                float[] nextRunning = new float[rows];
                boolean lastStep = len + 1 >= maxLength;
                for (int b = 0; b < batch; b++) {
                    int base = b * k;
                    if (done[b]) {
                        for (int j = 0; j < k; j++) {
                            nextParents[base + j] = base + j;
                            newest[base + j] = config.padTokenId();
                            nextRunning[base + j] = running[base + j];
                        }
                        continue;
                    }
                    cand.clear();
                    for (int j = 0; j < k; j++) {
                        int row = base + j;
                        int off = logits.offset(row);
                        logSoftmax(v, off, vocab);
                        rules.apply(v, off, vocab, seqs[row], len);
                        float add = running[row];
                        for (int t = 0; t < vocab; t++) {
                            cand.offer(v[off + t] + add, j, t);
                        }
                    }
                    // Candidates arrive sorted, best first.
                    int kept = 0;
                    for (int c = 0; c < cand.size() && kept < k; c++) {
                        boolean ends = lastStep || cand.token(c) == config.eosTokenId();
                        if (!ends) {
                            keep(base + kept, base + cand.beam(c), cand.token(c), cand.score(c), len, seqs, nextSeqs,
                                    nextParents, nextRunning, newest);
                            kept++;
                        }
                    }
                    // Fewer than k survivors only when every candidate ends; HF keeps them at −1e9.
                    for (int c = 0; c < cand.size() && kept < k; c++) {
                        boolean ends = lastStep || cand.token(c) == config.eosTokenId();
                        if (ends) {
                            keep(base + kept, base + cand.beam(c), cand.token(c), cand.score(c) + DEAD, len, seqs,
                                    nextSeqs, nextParents, nextRunning, newest);
                            kept++;
                        }
                    }
                    boolean frozen = config.earlyStopping() && finished[b].full();
                    for (int c = 0; c < Math.min(k, cand.size()) && !frozen; c++) {
                        boolean ends = lastStep || cand.token(c) == config.eosTokenId();
                        if (ends) {
                            long[] tokens = Arrays.copyOfRange(seqs[base + cand.beam(c)], 1, len + 1);
                            tokens[len - 1] = cand.token(c);
                            float score = (float) (cand.score(c) / Math.pow(len, config.lengthPenalty()));
                            finished[b].offer(score, tokens);
                        }
                    }
                }
                long[][] swap = seqs;
                seqs = nextSeqs;
                nextSeqs = swap;
                running = nextRunning;
                parents = nextParents;
                len++;
                boolean allDone = true;
                for (int b = 0; b < batch; b++) {
                    if (!done[b] && finished[b].full()) {
                        float bestRunning = (float) (running[b * k] / Math.pow(len - 1, config.lengthPenalty()));
                        done[b] = config.earlyStopping() || !(bestRunning > finished[b].worst());
                    }
                    allDone &= done[b];
                }
                if (allDone || lastStep) {
                    break;
                }
            }
        }
        List<long[]> out = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            out.add(finished[b].top().tokens());
        }
        return out;
    }

    private static void keep(int row, int parent, int token, float score, int len, long[][] seqs, long[][] nextSeqs,
            int[] nextParents, float[] nextRunning, long[] newest) {
        System.arraycopy(seqs[parent], 0, nextSeqs[row], 0, len);
        nextSeqs[row][len] = token;
        nextParents[row] = parent;
        nextRunning[row] = score;
        newest[row] = token;
    }

    /** In place, in double precision for the normaliser. */
    static void logSoftmax(float[] v, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, v[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Math.exp(v[off + i] - max);
        }
        float logZ = (float) (max + Math.log(sum));
        for (int i = 0; i < n; i++) {
            v[off + i] -= logZ;
        }
    }

    /** The best {@code capacity} (score, beam, token) triples seen, kept sorted best first. */
    static final class Candidates {
        private final float[] scores;
        private final int[] beams;
        private final int[] tokens;
        private int size;

        Candidates(int capacity) {
            scores = new float[capacity];
            beams = new int[capacity];
            tokens = new int[capacity];
        }

        void clear() {
            size = 0;
        }

        void offer(float score, int beam, int token) {
            int cap = scores.length;
            // NaN and −∞ never compete; a later equal score loses, as torch.topk keeps lower indices first.
            if (!(score > Float.NEGATIVE_INFINITY) || (size == cap && !(score > scores[cap - 1]))) {
                return;
            }
            int at = size == cap ? cap - 1 : size++;
            while (at > 0 && scores[at - 1] < score) {
                scores[at] = scores[at - 1];
                beams[at] = beams[at - 1];
                tokens[at] = tokens[at - 1];
                at--;
            }
            scores[at] = score;
            beams[at] = beam;
            tokens[at] = token;
        }

        int size() {
            return size;
        }

        float score(int i) {
            return scores[i];
        }

        int beam(int i) {
            return beams[i];
        }

        int token(int i) {
            return tokens[i];
        }
    }
}
