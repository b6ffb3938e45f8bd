package org.onnxlora.generate;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.testing.Fixtures;

/** Source token ids from the committed dataset, tokenized with DJL (the project's tokenizer is not built yet). */
final class TestInputs {
    private TestInputs() {}

    /** The first {@code n} sources of the validation split, as {@code <s> … </s>} ids, truncated to 64 tokens. */
    static List<long[]> sources(int n) {
        Path file = Path.of("models", "datasets", "manpages", "valid.jsonl");
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(Fixtures.tokenizer())) {
            List<long[]> out = new ArrayList<>();
            for (String line : Files.readAllLines(file)) {
                if (out.size() == n) {
                    break;
                }
                String source = JsonParser.parseString(line).getAsJsonObject().get("source").getAsString();
                Encoding e = tok.encode(source);
                long[] ids = e.getIds();
                if (ids.length > 64) {
                    long[] cut = java.util.Arrays.copyOf(ids, 64);
                    cut[63] = 2;
                    ids = cut;
                }
                out.add(ids);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
