package org.onnxlora.generate;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/** Log-probability of a whole target under the full model, from one teacher-forced run. */
final class TeacherForcing implements AutoCloseable {
    private final OrtSession session;

    TeacherForcing(Path fullModel, RuntimeOptions options) {
        session = Sessions.create(fullModel, options);
    }

    /** Sum over target positions of log p(target[i] | source, start, target[..i]). */
    double logProb(long[] source, long[] target, long decoderStart) throws OrtException {
        long[] dec = new long[target.length];
        dec[0] = decoderStart;
        System.arraycopy(target, 0, dec, 1, target.length - 1);
        long[] mask = new long[source.length];
        Arrays.fill(mask, 1);
        try (OnnxTensor ids = Ort.longs(source, 1, source.length);
                OnnxTensor m = Ort.longs(mask, 1, source.length);
                OnnxTensor d = Ort.longs(dec, 1, dec.length);
                OrtSession.Result r = session.run(Map.of("input_ids", ids, "attention_mask", m,
                        "decoder_input_ids", d))) {
            OnnxTensor logits = Ort.output(r, "logits");
            int vocab = (int) Ort.shape(logits)[2];
            FloatBuffer all = Ort.read(logits);
            float[] row = new float[vocab];
            double sum = 0;
            for (int i = 0; i < target.length; i++) {
                all.get(i * vocab, row, 0, vocab);
                BeamSearch.logSoftmax(row, 0, vocab);
                sum += row[(int) target[i]];
            }
            return sum;
        }
    }

    @Override
    public void close() {
        Ort.close(session);
    }
}
