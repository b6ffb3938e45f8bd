package org.onnxlora.generate;

/**
 * A seq2seq model seen from a search algorithm: encode a batch once, then hand out
 * next-token logits one decoder step at a time. The two implementations differ only
 * in cost: {@link FullModelSteps} re-runs the whole graph on the whole prefix every
 * step, {@link CachedSteps} runs the encoder once and the decoder on one token with
 * cached keys/values.
 */
interface StepModel extends AutoCloseable {

    /**
     * Starts decoding {@code sources} with {@code beams} decoder rows per example; row
     * {@code r} belongs to example {@code r / beams}.
     */
    Decoding start(SourceBatch sources, int beams);

    /** Whether steps reuse keys/values (cost per step independent of the prefix length). */
    boolean cached();

    @Override
    void close();

    /** One generation run over a fixed set of decoder rows. */
    interface Decoding extends AutoCloseable {

        /**
         * Appends one token to every row and returns the logits for the token after it.
         *
         * @param newest the token appended to each row (the decoder start token on the first call)
         * @param parents for beam search: row {@code r} continues the prefix that row {@code parents[r]}
         *     had before this call; always within the same example. {@code null} = every row continues itself
         * @return next-token logits, {@code rows × vocab} row-major
         */
        Logits step(long[] newest, int[] parents);

        @Override
        void close();
    }

    /** Next-token logits of every row. */
    record Logits(float[] values, int rows, int vocab) {
        int offset(int row) {
            return row * vocab;
        }
    }
}
