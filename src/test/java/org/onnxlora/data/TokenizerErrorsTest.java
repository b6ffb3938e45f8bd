package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** A broken tokenizer.json is one line naming the file and what in it is wrong, in words. */
class TokenizerErrorsTest {
    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "{\"model\": {\"vocab\": 5                                   | not valid JSON (End of input at line 2 column 1 path $.model.vocab)",
        "{\"model\" {}}                                              | not valid JSON (",
        "[1, 2]                                                      | not a JSON object",
        "{\"model\": {\"vocab\": {\"a\": \"x\"}}}                    | model.vocab[\"a\"] is not a token id (a number)",
        "{\"model\": {\"vocab\": {\"a\": 1.5}}}                      | model.vocab[\"a\"] is 1.5, not a token id",
        "{\"model\": {\"vocab\": {\"a\": -1}}}                       | model.vocab[\"a\"] is -1, not a token id",
        "{\"added_tokens\": [1], \"model\": {\"vocab\": {\"a\": 1}}} | added_tokens[0] is not an object",
        "{\"added_tokens\": {}, \"model\": {\"vocab\": {\"a\": 1}}}  | added_tokens is not a list",
        "{\"added_tokens\": [{\"id\": 0}], \"model\": {\"vocab\": {}}} | added_tokens[0].content is not a string",
        "{\"added_tokens\": [{\"content\": \"<s>\"}], \"model\": {\"vocab\": {}}} | added_tokens[0].id is not a token id",
        "{\"model\": {\"vocab\": \"abc\"}}                           | model.vocab is neither an object nor an array",
        "{\"model\": {}}                                             | no model.vocab",
    })
    void brokenFilesAreNamedWithTheirFault(String json, String expected) throws IOException {
        Path f = Files.writeString(dir.resolve("tokenizer.json"), json.strip() + "\n");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> TextTokenizer.load(f));
        assertEquals(ErrorCode.IO, e.code());
        String m = e.getMessage();
        assertTrue(m.startsWith("invalid tokenizer " + f + ": "), m);
        assertTrue(m.contains(expected.strip()), "'" + expected.strip() + "' not in: " + m);
        assertFalse(m.contains("Exception") || m.contains("com.google") || m.contains("http") || m.contains("\n"), m);
    }
}
