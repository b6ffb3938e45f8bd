package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Dims are a file's claim: sizes are computed in long and refused past a Java array, not overflowed. */
class AdapterSizeTest {
    private static Projection projection(long in, long out) {
        return new Projection("model.encoder.layers.0.self_attn.q_proj", "encoder-self-attention", "n", "MatMul", "x",
                "w", false, 1f, "y", in, out, null, 1, false);
    }

    @Test
    void dimsAtOrAbove2To31AreRefusedNamingTheModule() {
        AdapterInit init = new AdapterInit(LoraConfig.Init.KAIMING, 1);
        for (long[] dims : new long[][] {{1L << 31, 16}, {16, 1L << 31}, {1L << 28, 16}, {1L << 40, 1L << 40}}) {
            OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> init.valuesFor(projection(dims[0], dims[1]), 8, 2));
            assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
            assertTrue(e.getMessage().startsWith("model.encoder.layers.0.self_attn.q_proj:"), e.getMessage());
        }
    }

    @Test
    void ordinarySizesStillWork() {
        AdapterTensors t = new AdapterInit(LoraConfig.Init.GAUSSIAN, 1).valuesFor(projection(64, 32), 4, 2);
        assertEquals(64 * 4, t.a().length);
        assertEquals(4 * 32, t.b().length);
    }

    @Test
    void anUpdateTooLargeForAnArrayIsRefused() {
        AdapterTensors t = new AdapterTensors(1L << 20, 1L << 20, 0, 1, new double[0], new double[0]);
        assertThrows(OnnxLoraException.class, t::delta);
    }
}
