package org.onnxlora.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The tiny synthetic BART runs in ONNX Runtime and behaves like a seq2seq transformer: padding and causality hold. */
class SyntheticBartRunTest {
    private static final BartShape SHAPE = BartShape.tiny();
    private static OrtEnvironment env;
    private static OrtSession session;

    @BeforeAll
    static void open() throws OrtException {
        env = OrtEnvironment.getEnvironment();
        byte[] bytes = SyntheticBart.generate(SHAPE, 7).toByteArray();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            session = env.createSession(bytes, opts);
        }
    }

    @AfterAll
    static void close() throws OrtException {
        session.close();
    }

    private static float[][][] run(long[][] ids, long[][] mask, long[][] decoderIds) throws OrtException {
        try (OnnxTensor a = OnnxTensor.createTensor(env, ids);
                OnnxTensor m = OnnxTensor.createTensor(env, mask);
                OnnxTensor d = OnnxTensor.createTensor(env, decoderIds);
                OrtSession.Result r = session.run(Map.of(
                        BartGraphEmitter.INPUT_IDS, a,
                        BartGraphEmitter.ATTENTION_MASK, m,
                        BartGraphEmitter.DECODER_INPUT_IDS, d))) {
            return (float[][][]) r.get(0).getValue();
        }
    }

    private static long[][] randomIds(Random rnd, int batch, int len) {
        long[][] ids = new long[batch][len];
        for (long[] row : ids) {
            for (int i = 0; i < len; i++) {
                row[i] = rnd.nextInt(SHAPE.vocab());
            }
        }
        return ids;
    }

    private static long[][] ones(int batch, int len) {
        long[][] m = new long[batch][len];
        for (long[] row : m) {
            java.util.Arrays.fill(row, 1);
        }
        return m;
    }

    @Test
    void logitsHaveTheRightShapeAndAreFiniteForTwoSizes() throws OrtException {
        Random rnd = new Random(1);
        int[][] sizes = {{2, 7, 5}, {3, 12, 9}};
        for (int[] s : sizes) {
            float[][][] logits = run(randomIds(rnd, s[0], s[1]), ones(s[0], s[1]), randomIds(rnd, s[0], s[2]));
            assertEquals(s[0], logits.length);
            for (float[][] row : logits) {
                assertEquals(s[2], row.length);
                for (float[] pos : row) {
                    assertEquals(SHAPE.vocab(), pos.length);
                    for (float v : pos) {
                        assertTrue(Float.isFinite(v));
                    }
                }
            }
        }
    }

    @Test
    void paddedTokensChangeNothing() throws OrtException {
        Random rnd = new Random(2);
        long[][] ids = randomIds(rnd, 2, 8);
        long[][] mask = ones(2, 8);
        mask[1][5] = mask[1][6] = mask[1][7] = 0;
        long[][] dec = randomIds(rnd, 2, 6);
        float[][][] before = run(ids, mask, dec);

        ids[1][6] = (ids[1][6] + 1) % SHAPE.vocab();
        float[][][] afterPadChange = run(ids, mask, dec);
        assertArrayEquals(before[0], afterPadChange[0], "another row's logits changed");
        assertArrayEquals(before[1], afterPadChange[1], "the padded token leaked into its own row");

        ids[1][2] = (ids[1][2] + 1) % SHAPE.vocab();
        float[][][] afterRealChange = run(ids, mask, dec);
        assertArrayEquals(before[0], afterRealChange[0], "rows are not independent");
        assertFalse(java.util.Arrays.deepEquals(before[1], afterRealChange[1]), "a real token had no effect");
    }

    @Test
    void float16VariantRunsAndAgreesWithFloat32() throws OrtException {
        byte[] bytes = SyntheticBart.generate(SHAPE.withDtype(BartShape.Dtype.FLOAT16), 7).toByteArray();
        Random rnd = new Random(4);
        long[][] ids = randomIds(rnd, 2, 6);
        long[][] mask = ones(2, 6);
        mask[0][5] = 0;
        long[][] dec = randomIds(rnd, 2, 4);
        float[][][] reference = run(ids, mask, dec);
        try (OrtSession half = env.createSession(bytes, new OrtSession.SessionOptions());
                OnnxTensor a = OnnxTensor.createTensor(env, ids);
                OnnxTensor m = OnnxTensor.createTensor(env, mask);
                OnnxTensor d = OnnxTensor.createTensor(env, dec);
                OrtSession.Result r = half.run(Map.of(BartGraphEmitter.INPUT_IDS, a,
                        BartGraphEmitter.ATTENTION_MASK, m, BartGraphEmitter.DECODER_INPUT_IDS, d))) {
            float[][][] logits = (float[][][]) r.get(0).getValue();
            double worst = 0;
            for (int b = 0; b < 2; b++) {
                for (int t = 0; t < 4; t++) {
                    for (int v = 0; v < SHAPE.vocab(); v++) {
                        assertTrue(Float.isFinite(logits[b][t][v]));
                        worst = Math.max(worst, Math.abs(logits[b][t][v] - reference[b][t][v]));
                    }
                }
            }
            // Same random stream rounded to half precision: the logits (of order 1) agree to a few half ulps.
            assertTrue(worst < 0.05, "fp16 and fp32 logits differ by " + worst);
        }
    }

    @Test
    void decoderIsCausal() throws OrtException {
        Random rnd = new Random(3);
        long[][] ids = randomIds(rnd, 2, 6);
        long[][] dec = randomIds(rnd, 2, 7);
        float[][][] before = run(ids, ones(2, 6), dec);
        int changed = 4;
        dec[0][changed] = (dec[0][changed] + 1) % SHAPE.vocab();
        float[][][] after = run(ids, ones(2, 6), dec);
        for (int t = 0; t < changed; t++) {
            assertArrayEquals(before[0][t], after[0][t], "position " + t + " saw a later token");
        }
        assertFalse(java.util.Arrays.equals(before[0][changed], after[0][changed]));
        assertArrayEquals(before[1], after[1]);
    }
}
