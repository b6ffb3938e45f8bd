package org.onnxlora.bench;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.generate.Generator;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * Per-example generation latency on the tiny BART fixture, 2 intra-op threads:
 * batch 1 and 8, greedy and 4 beams, full model (no cache) and Optimum (KV cache).
 * Run with {@code ./mvnw -Pbench test -Dtest=org.onnxlora.bench.GenerationBenchmark}.
 */
@Tag("benchmark")
class GenerationBenchmark {
    private static final int ROUNDS = 5;

    @Test
    void latency() throws Exception {
        List<long[]> sources = sources(8);
        RuntimeOptions options = RuntimeOptions.defaults().withThreads(2);
        // Best and median of the rounds: on a shared machine the best is the steadier figure.
        System.out.printf("%-8s %-7s %-6s %12s %12s %12s %10s%n", "model", "search", "batch", "best ms/ex",
                "median ms/ex", "best ms/call", "tokens/ex");
        for (Path model : List.of(Fixtures.torchscript(), Fixtures.optimum())) {
            for (int beams : new int[] {1, 4}) {
                GenerationConfig config = GenerationConfig.DEFAULT.withNumBeams(beams);
                try (Generator g = Generator.open(model, config, options)) {
                    String name = g.usesCache() ? "cached" : "full";
                    for (int batch : new int[] {1, 8}) {
                        measure(g, sources, batch);  // warm-up
                        double[] perExample = new double[ROUNDS];
                        double tokens = 0;
                        for (int r = 0; r < ROUNDS; r++) {
                            double[] m = measure(g, sources, batch);
                            perExample[r] = m[0];
                            tokens = m[1];
                        }
                        Arrays.sort(perExample);
                        System.out.printf("%-8s %-7s %-6d %12.1f %12.1f %12.1f %10.1f%n", name,
                                beams == 1 ? "greedy" : beams + " beams", batch, perExample[0],
                                perExample[ROUNDS / 2], perExample[0] * batch, tokens);
                    }
                }
            }
        }
    }

    /** {ms per example, mean generated tokens} over all sources, in calls of {@code batch}. */
    private static double[] measure(Generator g, List<long[]> sources, int batch) {
        long tokens = 0;
        long t0 = System.nanoTime();
        for (int i = 0; i < sources.size(); i += batch) {
            for (long[] out : g.generate(sources.subList(i, Math.min(sources.size(), i + batch)))) {
                tokens += out.length;
            }
        }
        double ms = (System.nanoTime() - t0) / 1e6;
        return new double[] {ms / sources.size(), tokens / (double) sources.size()};
    }

    private static List<long[]> sources(int n) throws Exception {
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(Fixtures.tokenizer())) {
            List<long[]> out = new ArrayList<>();
            for (String line : Files.readAllLines(Path.of("models", "datasets", "manpages", "test.jsonl"))) {
                if (out.size() == n) {
                    break;
                }
                long[] ids = tok.encode(JsonParser.parseString(line).getAsJsonObject().get("source").getAsString())
                        .getIds();
                if (ids.length > 64) {
                    ids = Arrays.copyOf(ids, 64);
                    ids[63] = 2;
                }
                out.add(ids);
            }
            return out;
        }
    }
}
