package org.onnxlora.cli;

import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.runtime.Seq2SeqSignature;
import picocli.CommandLine.Option;

/** Decoding flags shared by generate and eval. */
final class GenerationOptions {
    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Tokens to generate at most (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--num-beams", defaultValue = "1", description = "1 = greedy, N = beam search (default: ${DEFAULT-VALUE}).")
    int numBeams;

    @Option(names = "--no-repeat-ngram-size", defaultValue = "0", description = "Never repeat an n-gram of this size; 0 = off (default: ${DEFAULT-VALUE}).")
    int noRepeatNgram;

    @Option(names = "--length-penalty", defaultValue = "1.0", description = "Beam score = log-prob / length^penalty (default: ${DEFAULT-VALUE}).")
    double lengthPenalty;

    GenerationConfig config() {
        return GenerationConfig.DEFAULT.withMaxNewTokens(maxNewTokens).withNumBeams(numBeams)
                .withNoRepeatNgramSize(noRepeatNgram).withLengthPenalty(lengthPenalty);
    }

    /** With the model's decoder start and pad ids. */
    GenerationConfig config(Seq2SeqSignature s) {
        GenerationConfig c = config();
        return c.withTokens(s.decoderStartTokenId(), c.eosTokenId(), s.padTokenId());
    }
}
