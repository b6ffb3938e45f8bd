package org.onnxlora.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * Token-for-token agreement with transformers' own {@code generate()} on the PyTorch
 * weights the fixtures were exported from (goldens/generate.json, written by
 * tools/make_generate_goldens.py), for greedy and beam search with length penalties,
 * early stopping, n-gram blocking, min length and forced tokens, batched and padded.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HuggingFaceParityTest {
    private static final RuntimeOptions OPTIONS = RuntimeOptions.defaults().withThreads(2);
    private JsonObject goldens;
    private List<long[]> sources;
    private Generator full;
    private Generator cached;

    @BeforeAll
    void load() throws Exception {
        goldens = JsonParser.parseString(Files.readString(Fixtures.goldens().resolve("generate.json")))
                .getAsJsonObject();
        sources = ids(goldens.getAsJsonArray("sources"));
        full = Generator.open(Fixtures.torchscript(), GenerationConfig.DEFAULT, OPTIONS);
        cached = Generator.open(Fixtures.optimum(), GenerationConfig.DEFAULT, OPTIONS);
    }

    @AfterAll
    void close() {
        full.close();
        cached.close();
    }

    Stream<Arguments> cases() throws Exception {
        JsonObject g = JsonParser.parseString(Files.readString(Path.of("models", "tiny-bart", "goldens",
                "generate.json"))).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (JsonElement c : g.getAsJsonArray("cases")) {
            out.add(Arguments.of(c.getAsJsonObject().get("name").getAsString(), c.getAsJsonObject()));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesTransformers(String name, JsonObject golden) {
        GenerationConfig config = config(golden.getAsJsonObject("settings"));
        List<long[]> expected = ids(golden.getAsJsonArray("outputs"));
        for (Generator g : List.of(cached, full)) {
            List<long[]> actual = g.generate(sources, config);
            List<String> diffs = new ArrayList<>();
            for (int i = 0; i < expected.size(); i++) {
                if (!Arrays.equals(expected.get(i), actual.get(i))) {
                    diffs.add("example " + i + ": HF " + Arrays.toString(expected.get(i)) + " vs "
                            + Arrays.toString(actual.get(i)));
                }
            }
            assertTrue(diffs.isEmpty(), name + (g.usesCache() ? " (cached)" : " (full model)") + ":\n"
                    + String.join("\n", diffs));
        }
        assertEquals(sources.size(), expected.size());
    }

    private static GenerationConfig config(JsonObject s) {
        GenerationConfig c = GenerationConfig.DEFAULT
                .withMaxNewTokens(s.get("max_new_tokens").getAsInt())
                .withNumBeams(s.get("num_beams").getAsInt())
                .withLengthPenalty(s.get("length_penalty").getAsDouble())
                .withEarlyStopping(s.get("early_stopping").getAsBoolean())
                .withTokens(s.get("decoder_start_token_id").getAsLong(), s.get("eos_token_id").getAsLong(),
                        s.get("pad_token_id").getAsLong());
        if (s.has("no_repeat_ngram_size")) {
            c = c.withNoRepeatNgramSize(s.get("no_repeat_ngram_size").getAsInt());
        }
        if (s.has("min_length")) {
            c = c.withMinLength(s.get("min_length").getAsInt());
        }
        if (s.has("forced_bos_token_id")) {
            c = c.withForcedBosTokenId(OptionalInt.of(s.get("forced_bos_token_id").getAsInt()));
        }
        if (s.has("forced_eos_token_id")) {
            c = c.withForcedEosTokenId(OptionalInt.of(s.get("forced_eos_token_id").getAsInt()));
        }
        return c;
    }

    private static List<long[]> ids(JsonArray rows) {
        List<long[]> out = new ArrayList<>();
        for (JsonElement r : rows) {
            JsonArray a = r.getAsJsonArray();
            long[] v = new long[a.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = a.get(i).getAsLong();
            }
            out.add(v);
        }
        return out;
    }
}
