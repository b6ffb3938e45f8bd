package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
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

/** K micro-batches of B examples give the gradient of one batch of K·B examples. */
class GradAccumulationTest {
    @TempDir
    Path tmp;

    @Test
    void twoHalvesEqualTheWhole() {
        ModelProto base = ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj", "v_proj", "out_proj"), LoraConfig.Init.GAUSSIAN, 3);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        ModelProto patched = pass.apply(base, cfg, pass.plan(base, null, cfg),
                org.onnxlora.lora.PatchMergeFixtureTest.nonZero()).output();
        TrainingCompiler.Options opts = TrainingCompiler.Options.defaults();
        ArtifactStore.write(new TrainingCompiler().compile(patched, opts), opts, tmp);
        List<Seq2SeqExample> ex;
        DataConfig dc;
        try (TextTokenizer tok = TextTokenizer.load(Fixtures.tokenizer())) {
            dc = DataConfig.forTokenizer(tok).withMaxLengths(48, 16);
            ex = Dataset.load(Path.of("models/datasets/manpages/valid.jsonl"), ReaderOptions.DEFAULT, tok, dc,
                    Progress.NONE).examples().subList(0, 8);
        }
        try (TrainingSession s = new TrainingSession(tmp, RuntimeOptions.defaults().withThreads(2))) {
            TrainingSession.Pass whole = s.forwardBackward(TeacherForcing.collate(ex, dc));
            float[][] ref = new float[s.adapters().size()][];
            for (int i = 0; i < ref.length; i++) {
                ref[i] = s.accumulatedGradient(s.adapters().get(i).name());
            }
            s.applyUpdate(0); // clears the accumulator (lr 0 leaves adapters unchanged but moves the moments)
            TrainingSession.Pass a = s.forwardBackward(TeacherForcing.collate(ex.subList(0, 4), dc));
            TrainingSession.Pass b = s.forwardBackward(TeacherForcing.collate(ex.subList(4, 8), dc));
            assertEquals(whole.tokens(), a.tokens() + b.tokens());
            assertEquals(whole.lossSum(), a.lossSum() + b.lossSum(), 1e-4 * whole.lossSum());
            for (int i = 0; i < ref.length; i++) {
                String n = s.adapters().get(i).name();
                double err = Goldens.relErr(s.accumulatedGradient(n), ref[i]);
                assertTrue(err <= 1e-5, n + ": accumulated gradient differs by " + err);
            }
        }
    }
}
