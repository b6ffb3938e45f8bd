package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

class TeacherForcingTest {
    private static final DataConfig BART = DataConfig.defaults(1);

    /**
     * Hand-computed with transformers' {@code shift_tokens_right(labels, pad_token_id=1,
     * decoder_start_token_id=2)}: {@code shifted[:, 1:] = labels[:, :-1]; shifted[:, 0] = 2;
     * shifted[shifted == -100] = 1}.
     */
    @Test
    void shiftTokensRightMatchesHuggingFace() {
        long[] labels = {
            0, 10, 11, 12, 2,
            0, 13, 2, -100, -100,
            0, 2, -100, -100, -100,
        };
        long[] expected = {
            2, 0, 10, 11, 12,
            2, 0, 13, 2, 1,
            2, 0, 2, 1, 1,
        };
        assertArrayEquals(expected, TeacherForcing.shiftTokensRight(labels, 3, 5, 2, 1, -100));
    }

    @Test
    void collatePadsInputsAndIgnoresPaddedLabels() {
        List<Seq2SeqExample> rows = List.of(
                new Seq2SeqExample(new long[] {0, 7, 8, 2}, new long[] {0, 20, 2}),
                new Seq2SeqExample(new long[] {0, 9, 2}, new long[] {0, 21, 22, 23, 2}));
        Batch b = TeacherForcing.collate(rows, BART);
        assertEquals(2, b.size());
        assertEquals(4, b.sourceLength());
        assertEquals(5, b.targetLength());
        assertArrayEquals(new long[] {0, 7, 8, 2, 0, 9, 2, 1}, b.inputIds());
        assertArrayEquals(new long[] {1, 1, 1, 1, 1, 1, 1, 0}, b.attentionMask());
        assertArrayEquals(new long[] {0, 20, 2, -100, -100, 0, 21, 22, 23, 2}, b.labels());
        assertArrayEquals(new long[] {2, 0, 20, 2, 1, 2, 0, 21, 22, 23}, b.decoderInputIds());
        assertEquals(7 + 8, b.realTokens());
        assertEquals(new PaddingStats(15, 18), PaddingStats.of(b));
    }

    @Test
    void configurationIsValidated() {
        for (Runnable bad : List.<Runnable>of(
                () -> new DataConfig(0, 64, 1, 2, -100),
                () -> new DataConfig(256, 0, 1, 2, -100),
                () -> new DataConfig(256, 64, -1, 2, -100),
                () -> new DataConfig(256, 64, 1, -2, -100),
                () -> new DataConfig(256, 64, 1, 2, 0))) {
            OnnxLoraException e = assertThrows(OnnxLoraException.class, bad::run);
            assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        }
        assertEquals(new DataConfig(256, 64, 1, 2, -100), BART);
    }
}
