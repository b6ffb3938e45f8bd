package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.testing.Fixtures;

/** The joined Optimum graph computes what encoder then decoder compute, and its report names the renames. */
class OptimumStitchPassTest {
    static final long[] IDS = {5, 17, 42, 2, 9, 11};
    static final long[] MASK = {1, 1, 1, 1, 1, 0};
    static final long[] DEC = {2, 5, 17, 8};

    @Test
    void joinsEncoderAndDecoderAndReportsTheRenames() throws Exception {
        Path ep = Fixtures.optimum().resolve("encoder_model.onnx");
        Path dp = Fixtures.optimum().resolve("decoder_model.onnx");
        ModelProto enc = ModelIO.load(ep);
        ModelProto dec = ModelIO.load(dp);
        Seq2SeqSignature es = Seq2SeqSignature.of(enc, ep, ModelFamily.bart());
        Seq2SeqSignature ds = Seq2SeqSignature.of(dec, dp, ModelFamily.bart());
        PassResult<ModelProto> r = OptimumStitchPass.apply(enc, es, dec, ds);
        assertEquals("optimum-stitch", r.pass());
        assertEquals(0, r.refused().size());
        String hidden = es.encoderOutput();
        assertTrue(r.changed().contains("encoder_hidden_states -> " + hidden), r.changed().toString());
        assertTrue(r.changed().contains("input_ids -> decoder_input_ids"), r.changed().toString());
        // every anonymous decoder name the encoder also uses is renamed, and reported
        long collisions = r.changed().stream().filter(c -> !c.endsWith("-> " + hidden)
                && !c.endsWith("-> decoder_input_ids") && !c.endsWith("-> attention_mask")
                && !c.endsWith("-> decoder_attention_mask")).count();
        assertTrue(collisions > 0, "the tiny exports share anonymous names: " + r.changed());

        OrtEnvironment env = OrtEnvironment.getEnvironment();
        float[] joined;
        float[] twoStep;
        try (OrtSession j = env.createSession(r.output().toByteArray(), new OrtSession.SessionOptions());
                OrtSession e = env.createSession(enc.toByteArray(), new OrtSession.SessionOptions());
                OrtSession d = env.createSession(dec.toByteArray(), new OrtSession.SessionOptions());
                OnnxTensor ids = OnnxTensor.createTensor(env, LongBuffer.wrap(IDS), new long[] {2, 3});
                OnnxTensor mask = OnnxTensor.createTensor(env, LongBuffer.wrap(MASK), new long[] {2, 3});
                OnnxTensor decIds = OnnxTensor.createTensor(env, LongBuffer.wrap(DEC), new long[] {2, 2})) {
            try (OrtSession.Result out = j.run(Map.of("input_ids", ids, "attention_mask", mask,
                    "decoder_input_ids", decIds))) {
                joined = floats(out.get(0));
            }
            try (OrtSession.Result h = e.run(Map.of("input_ids", ids, "attention_mask", mask));
                    OrtSession.Result out = d.run(Map.of("input_ids", decIds, "encoder_attention_mask", mask,
                            "encoder_hidden_states", (OnnxTensor) h.get(hidden).orElseThrow()))) {
                twoStep = floats(out.get(0));
            }
        }
        float diff = PassOrt.maxAbs(joined, twoStep);
        assertTrue(diff <= 1e-5, "joined graph differs by " + diff);
    }

    private static float[] floats(ai.onnxruntime.OnnxValue v) {
        FloatBuffer f = ((OnnxTensor) v).getFloatBuffer();
        float[] out = new float[f.remaining()];
        f.get(out);
        return out;
    }
}
