package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.Fixtures;

/** train keeps tokenized data in RUN/data-cache, shares a --data-cache folder, and skips it with --no-data-cache. */
class TrainDataCacheTest {
    private static final String DATA = "models/datasets/manpages/valid.jsonl";

    @TempDir
    Path tmp;

    private static CliTest.Run train(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", Fixtures.torchscript().toString(),
                "--tokenizer", Fixtures.tokenizer().toString(), "--train", DATA, "--out", out.toString(),
                "--batch-size", "8", "--steps", "1", "--threads", "2", "--target", "q_proj,v_proj", "-v"));
        a.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(a.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return r;
    }

    @Test
    void secondRunReadsTheCache() throws IOException {
        Path first = tmp.resolve("first");
        CliTest.Run a = train(first);
        Path cache = first.resolve("data-cache");
        assertEquals(1, entries(cache), "one entry for the training file");
        assertTrue(a.err().contains("tokens cached in " + cache), a.err());
        CliTest.Run b = train(tmp.resolve("second"), "--data-cache", cache.toString());
        assertTrue(b.err().contains("tokens from the cache " + cache), b.err());
        assertFalse(Files.exists(tmp.resolve("second").resolve("data-cache")));
        assertEquals(1, entries(cache));

        CliTest.Run c = train(tmp.resolve("third"), "--no-data-cache");
        assertFalse(c.err().contains("cache"), c.err());
        assertFalse(Files.exists(tmp.resolve("third").resolve("data-cache")));
    }

    private static long entries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tokens")).count();
        }
    }
}
