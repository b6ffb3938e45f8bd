package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** The onnx_lora metadata is read field by field; each defect is one line naming its field. */
class LoraMetadataParserTest {
    private static final String MODULE = "{\"module\": \"model.encoder.layers.0.self_attn.q_proj\", \"role\": \"r\","
            + " \"rank\": 4, \"alpha\": 8, \"scaling\": 2, \"loraA\": \"a\", \"loraB\": \"b\", \"in\": 16, \"out\": 16}";

    private static String info(String modules, String extra) {
        return "{\"format\": 1, \"rank\": 4, \"alpha\": 8.0, \"useRslora\": false, \"init\": \"kaiming\", \"seed\": 0,"
                + " \"targets\": [\"q_proj\"], \"modules\": " + modules + ", \"trainable\": [\"a\", \"b\"]" + extra + "}";
    }

    private static String refusal(String json) {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> LoraMetadataParser.parse(json));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertFalse(e.getMessage().contains("Exception") || e.getMessage().contains("http"), e.getMessage());
        return e.getMessage();
    }

    @Test
    void readsWhatPatchWrites() {
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj"), LoraConfig.Init.KAIMING, 3);
        LoraMetadata.Info written = LoraMetadata.of(cfg, List.of());
        assertEquals(written, LoraMetadataParser.parse(LoraMetadata.toJson(written)));
        LoraMetadata.Info one = LoraMetadataParser.parse(info("[" + MODULE + "]", ""));
        assertEquals(16, one.modules().get(0).in());
        assertEquals(2.0, one.modules().get(0).scaling());
    }

    @Test
    void eachDefectNamesItsField() {
        assertTrue(refusal(info("null", "")).contains("field 'modules' is null, expected an array"));
        assertTrue(refusal(info("[" + MODULE.replace("\"rank\": 4", "\"rank\": \"four\"") + "]", ""))
                .contains("field 'modules[0].rank' is a string, expected a number"));
        assertTrue(refusal(info("[" + MODULE.replace("\"rank\": 4", "\"rank\": 1.5") + "]", ""))
                .contains("'modules[0].rank' is 1.5, expected a whole number"));
        assertTrue(refusal(info("[" + MODULE.replace("\"in\": 16", "\"in\": 4294967296") + "]", ""))
                .contains("'modules[0].in' is 4294967296"));
        assertTrue(refusal(info("[" + MODULE.replace("\"rank\": 4", "\"rank\": 0") + "]", ""))
                .contains("'modules[0].rank' is 0"));
        assertTrue(refusal(info("[" + MODULE.replace("\"loraA\": \"a\", ", "") + "]", ""))
                .contains("'modules[0].loraA' is missing"));
        assertTrue(refusal(info("[]", "").replace("\"alpha\": 8.0", "\"alpha\": 1e999")).contains("'alpha'"));
        assertTrue(refusal("[1, 2]").contains("is not a JSON object"));
        assertTrue(refusal("{\"modules\": [").contains("is not valid JSON"));
    }
}
