package org.onnxlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

class LengthLadderTest {
    @Test
    void geometricRungsEndAtTheMaximum() {
        assertArrayEquals(new int[] {16, 24, 32, 48, 64, 96, 128, 192, 256}, LengthLadder.geometric(16, 2, 256).rungs());
        assertArrayEquals(new int[] {16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 100},
                LengthLadder.geometric(16, 4, 100).rungs());
        assertArrayEquals(new int[] {10}, LengthLadder.geometric(16, 4, 10).rungs());
        assertArrayEquals(new int[] {8, 16, 20}, LengthLadder.multiplesOf(8, 20).rungs());
        assertEquals("exact(5)", LengthLadder.exact(5).toString());
    }

    @Test
    void padsToTheSmallestRungThatFits() {
        LengthLadder l = LengthLadder.geometric(16, 4, 100);
        assertEquals(16, l.padTo(1));
        assertEquals(16, l.padTo(16));
        assertEquals(20, l.padTo(17));
        assertEquals(100, l.padTo(97));
        assertEquals(100, l.padTo(100));
        assertArrayEquals(new int[] {16, 20, 24}, l.rungsUpTo(21));
        assertEquals(7, LengthLadder.exact(64).padTo(7));
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> l.padTo(101));
        assertEquals(ErrorCode.INTERNAL, e.code());
    }

    @Test
    void badLaddersAreRejected() {
        for (Runnable bad : List.<Runnable>of(
                () -> LengthLadder.geometric(12, 2, 64),
                () -> LengthLadder.geometric(16, 3, 64),
                () -> LengthLadder.geometric(4, 8, 64),
                () -> LengthLadder.geometric(16, 2, 0),
                () -> LengthLadder.multiplesOf(0, 64),
                () -> LengthLadder.exact(0))) {
            assertEquals(ErrorCode.BAD_ARGUMENT, assertThrows(OnnxLoraException.class, bad::run).code());
        }
    }

    @Test
    void collatePadsToTheGivenLengths() {
        DataConfig bart = DataConfig.defaults(1);
        List<Seq2SeqExample> rows = List.of(new Seq2SeqExample(new long[] {0, 7, 2}, new long[] {0, 20, 2}));
        Batch b = TeacherForcing.collate(rows, bart, 5, 4);
        assertEquals(BatchShape.of(b), new BatchShape(1, 5, 4));
        assertArrayEquals(new long[] {0, 7, 2, 1, 1}, b.inputIds());
        assertArrayEquals(new long[] {1, 1, 1, 0, 0}, b.attentionMask());
        assertArrayEquals(new long[] {0, 20, 2, -100}, b.labels());
        assertArrayEquals(new long[] {2, 0, 20, 2}, b.decoderInputIds());
        assertEquals(6, b.realTokens());
        assertEquals(ErrorCode.INTERNAL, assertThrows(OnnxLoraException.class,
                () -> TeacherForcing.collate(rows, bart, 2, 4)).code());
    }
}
