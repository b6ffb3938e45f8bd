package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
import org.onnxlora.data.Batch;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.Seq2SeqExample;
import org.onnxlora.data.TeacherForcing;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * The data-parallel seam of {@link TrainingSession}: two sessions each run forward/backward on half
 * of a step's micro-batches, the host sums their gradients and tokens, one optimizer step applies
 * the sum and the result is broadcast; it equals one session accumulating both halves, bit for bit.
 */
class GradientSeamTest {
    @TempDir
    Path tmp;

    @Test
    void summedWorkerGradientsEqualOneSessionsAccumulation() {
        ModelProto base = ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj", "v_proj"), LoraConfig.Init.GAUSSIAN, 3);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        ModelProto patched = pass.apply(base, cfg, pass.plan(base, null, cfg),
                org.onnxlora.lora.PatchMergeFixtureTest.nonZero()).output();
        TrainingCompiler.Options opts = TrainingCompiler.Options.defaults();
        ArtifactStore.write(new TrainingCompiler().compile(patched, opts), opts, tmp);
        Batch first;
        Batch second;
        try (TextTokenizer tok = TextTokenizer.load(Fixtures.tokenizer())) {
            DataConfig dc = DataConfig.forTokenizer(tok).withMaxLengths(48, 16);
            List<Seq2SeqExample> ex = Dataset.load(Path.of("models/datasets/manpages/valid.jsonl"), ReaderOptions.DEFAULT,
                    tok, dc, Progress.NONE).examples().subList(0, 8);
            first = TeacherForcing.collate(ex.subList(0, 4), dc);
            second = TeacherForcing.collate(ex.subList(4, 8), dc);
        }
        RuntimeOptions rt = RuntimeOptions.defaults().withThreads(1);
        float[] reference;
        try (TrainingSession one = new TrainingSession(tmp, rt)) {
            one.forwardBackward(first);
            one.forwardBackward(second);
            one.applyUpdate(1e-2);
            reference = one.adapterValues();
        }
        TrainingSession a = new TrainingSession(tmp, rt);
        try (a; TrainingSession b = new TrainingSession(tmp, rt)) {
            float[] before = a.adapterValues();
            a.forwardBackward(first);
            b.forwardBackward(second);
            float[] ga = a.accumulatedGradients();
            float[] gb = b.accumulatedGradients();
            float[] sum = new float[ga.length];
            for (int i = 0; i < sum.length; i++) {
                sum[i] = ga[i] + gb[i];
            }
            a.setAccumulatedGradients(sum, a.accumulatedTokens() + b.accumulatedTokens());
            a.applyUpdate(1e-2);
            b.setAdapterValues(a.adapterValues());
            assertFalse(java.util.Arrays.equals(before, a.adapterValues()), "the update changed nothing");
            assertArrayEquals(reference, a.adapterValues());
            assertArrayEquals(reference, b.adapterValues());
            assertEquals(0, a.accumulatedTokens(), "the update clears the accumulator");
        }
        a.close(); // a second close (after try-with-resources) does nothing
    }
}
