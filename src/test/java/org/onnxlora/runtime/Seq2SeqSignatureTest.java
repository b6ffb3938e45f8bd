package org.onnxlora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.runtime.Seq2SeqSignature.Feed;
import org.onnxlora.runtime.Seq2SeqSignature.Kind;
import org.onnxlora.testing.ExportVariants;
import org.onnxlora.testing.Fixtures;

/** The contract read from the committed exports: feeds by role, ids, sizes, refusals. */
class Seq2SeqSignatureTest {
    static final ModelFamily BART = ModelFamily.bart();

    static Seq2SeqSignature of(Path file) {
        return Seq2SeqSignature.of(ModelIO.load(file), file, BART);
    }

    @Test
    void fullExportsFeedByRole() {
        for (Path p : List.of(Fixtures.torchscript(), Fixtures.dynamo())) {
            Seq2SeqSignature s = of(p);
            assertEquals(Kind.FULL, s.kind());
            assertEquals(Map.of("input_ids", Feed.INPUT_IDS, "attention_mask", Feed.ATTENTION_MASK,
                    "decoder_input_ids", Feed.DECODER_INPUT_IDS), s.feedsByName());
            assertEquals("logits", s.logitsOutput());
            assertEquals(256, s.maxPositions(), "258-row position tables less BART's offset of 2");
            assertEquals(2048, s.vocab());
            assertEquals(1, s.padTokenId());
            assertEquals(2, s.decoderStartTokenId());
            assertTrue(s.staticShape().isFree());
        }
        assertEquals(Feed.DECODER_ATTENTION_MASK, of(ExportVariants.fourInput()).feedsByName().get("decoder_attention_mask"));
    }

    @Test
    void optimumFilesRemapTheDecoderIds() {
        Seq2SeqSignature enc = of(Fixtures.optimum().resolve("encoder_model.onnx"));
        assertEquals(Kind.ENCODER, enc.kind());
        assertEquals("last_hidden_state", enc.encoderOutput());
        Seq2SeqSignature dec = of(Fixtures.optimum().resolve("decoder_model.onnx"));
        assertEquals(Kind.DECODER, dec.kind());
        assertEquals(Feed.DECODER_INPUT_IDS, dec.feedsByName().get("input_ids"));
        assertEquals(Feed.ATTENTION_MASK, dec.feedsByName().get("encoder_attention_mask"));
        assertEquals(Feed.ENCODER_HIDDEN_STATES, dec.feedsByName().get("encoder_hidden_states"));
        Seq2SeqSignature past = of(Fixtures.optimum().resolve("decoder_with_past_model.onnx"));
        List<String> cache = past.names(Feed.PAST_KEY_VALUES);
        assertEquals(8, cache.size(), cache.toString());
        assertEquals("present.0.decoder.key", past.presentFor("past_key_values.0.decoder.key"));
    }

    @Test
    void configJsonBesideTheModelOverridesTheFamilyAndTheOverrideIsChecked(@TempDir Path dir) throws IOException {
        Path m = dir.resolve("model.onnx");
        Files.copy(Fixtures.torchscript(), m);
        Files.writeString(dir.resolve("config.json"), "{\"decoder_start_token_id\": 0, \"pad_token_id\": 3,"
                + " \"max_position_embeddings\": 128}");
        Seq2SeqSignature s = of(m);
        assertEquals(0, s.decoderStartTokenId());
        assertEquals(3, s.padTokenId());
        assertEquals(128, s.maxPositions());
        assertEquals(5, s.withDecoderStartTokenId(5).decoderStartTokenId());
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> s.withDecoderStartTokenId(2048));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        e = assertThrows(OnnxLoraException.class, () -> s.checkMaxLengths(129, 16));
        assertTrue(e.getMessage().contains("maximum source length 129") && e.getMessage().contains("128"), e.getMessage());
        assertEquals(java.util.Optional.of(org.onnxlora.Setting.MAX_SOURCE_LENGTH), e.setting());
    }

    @Test
    void unknownInputsAreRefusedNamingWhatCanBeFed() {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Seq2SeqSignature.of(
                ExportVariants.withExtraInput(ModelIO.load(Fixtures.torchscript()), "token_type_ids"), null, BART));
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
        for (String s : List.of("'token_type_ids'", "input_ids", "attention_mask", "decoder_input_ids",
                "decoder_attention_mask", "encoder_hidden_states", "past_key_values")) {
            assertTrue(e.getMessage().contains(s), s + " not in " + e.getMessage());
        }
    }

    @Test
    void staticShapesAreReadAndChecked() {
        Seq2SeqSignature s = Seq2SeqSignature.of(ExportVariants.fixedShapes(ModelIO.load(Fixtures.torchscript()), 2, 16,
                8), null, BART);
        assertEquals(new Seq2SeqSignature.StaticShape(2, 16, 8), s.staticShape());
        s.checkFitsStatic(16, 8);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> s.checkFitsStatic(16, 9));
        assertTrue(e.getMessage().contains("'decoder_input_ids'")
                && e.getMessage().contains("set the maximum target length to 8"), e.getMessage());
        assertEquals(java.util.Optional.of(org.onnxlora.Setting.MAX_TARGET_LENGTH), e.setting());
        e = assertThrows(OnnxLoraException.class, () -> s.checkFitsStatic(16, 9, "the source length", "the target length"));
        assertEquals(java.util.Optional.empty(), e.setting(), "a caller naming its own settings maps them itself");
    }
}
