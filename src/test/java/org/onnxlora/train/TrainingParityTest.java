package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.data.Batch;

/**
 * The compiled training step against PyTorch + PEFT (tools/make_fixtures.py), on both
 * exporters' graphs and on the 4-input export (decoder_attention_mask fed from the labels):
 * loss, every adapter gradient, and three AdamW steps end to end.
 */
class TrainingParityTest {
    static Goldens gold;

    @BeforeAll
    static void load() throws Exception {
        gold = new Goldens();
    }

    @AfterAll
    static void close() {
        gold.close();
    }


    /** Patches {@code model} like the goldens (r=4, alpha=8, q/k/v/out) with their initial adapter values. */
    static ModelProto patchedLikeGoldens(Path model) {
        ModelProto base = ModelIO.load(model);
        LoraConfig cfg = new LoraConfig(gold.meta.get("rank").getAsInt(), gold.meta.get("alpha").getAsDouble(),
                List.of("q_proj", "k_proj", "v_proj", "out_proj"), LoraConfig.Init.KAIMING, 0);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        PatchPlan plan = pass.plan(base, null, cfg);
        AdapterSource fromGoldens = (p, r, s) -> new AdapterTensors(p.in(), p.out(), r, s,
                toDouble(gold.get("init/" + p.loraA())), toDouble(gold.get("init/" + p.loraB())));
        return pass.apply(base, cfg, plan, fromGoldens).output();
    }

    @TempDir
    static Path tmp;

    static Path compiled(Path model, String tag) {
        TrainingCompiler.Options opts = new TrainingCompiler.Options(LossConfig.DEFAULT, gold.optimizerConfig(), "logits");
        TrainingCompiler.Artifacts art = new TrainingCompiler().compile(patchedLikeGoldens(model), opts);
        Path dir = tmp.resolve(model.getFileName() + "-" + tag);
        ArtifactStore.write(art, opts, dir);
        return dir;
    }

    static Batch goldenBatch() {
        long[] ids = gold.longs("batch/input_ids");
        long[] shape = gold.shape("batch/input_ids");
        long[] tshape = gold.shape("batch/labels");
        return new Batch((int) shape[0], (int) shape[1], (int) tshape[1], ids, gold.longs("batch/attention_mask"),
                gold.longs("batch/decoder_input_ids"), gold.longs("batch/labels"));
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#exportsWithFourInputs")
    void lossAndGradientsMatchPyTorch(Path model) {
        Path dir = compiled(model, "grads");
        try (TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2))) {
            assertEquals(gold.adapters.size(), s.adapters().size());
            TrainingSession.Pass pass = s.forwardBackward(goldenBatch());
            double ref = gold.step(1).get("loss").getAsDouble();
            assertEquals(gold.step(1).get("tokens").getAsDouble(), pass.tokens());
            double lossErr = Math.abs(pass.meanLoss() - ref) / Math.abs(ref);
            assertTrue(lossErr <= 1e-5, "loss " + pass.meanLoss() + " vs PyTorch " + ref + " (rel " + lossErr + ")");
            for (String a : gold.adapters) {
                float[] g = s.accumulatedGradient(a);
                for (int i = 0; i < g.length; i++) {
                    g[i] /= (float) pass.tokens();
                }
                double err = Goldens.relErr(g, gold.get("step1/grad/" + a));
                assertTrue(err <= 1e-4, model.getFileName() + " gradient of " + a + ": relative error " + err);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#exportsWithFourInputs")
    void threeAdamWStepsMatchPyTorch(Path model) {
        Path dir = compiled(model, "steps");
        double lr = gold.optimizer().get("lr").getAsDouble();
        try (TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2))) {
            for (int step = 1; step <= 3; step++) {
                TrainingSession.Pass p = s.forwardBackward(goldenBatch());
                double ref = gold.step(step).get("loss").getAsDouble();
                assertEquals(ref, p.meanLoss(), 1e-3 * Math.abs(ref), "loss at step " + step);
                double norm = s.applyUpdate(lr);
                assertEquals(gold.step(step).get("grad_norm").getAsDouble(), norm,
                        1e-3 * gold.step(step).get("grad_norm").getAsDouble(), "grad norm at step " + step);
            }
            for (String a : gold.adapters) {
                float[] a0 = gold.get("init/" + a);
                float[] ref = gold.get("step3/param/" + a);
                float[] got = s.adapter(a);
                float[] d = new float[a0.length];
                float[] dRef = new float[a0.length];
                for (int i = 0; i < a0.length; i++) {
                    d[i] = got[i] - a0[i];
                    dRef[i] = ref[i] - a0[i];
                }
                double err = Goldens.relErr(d, dRef);
                assertTrue(err <= 1e-2, model.getFileName() + " update of " + a + " after 3 steps: relative error " + err);
            }
        }
    }
}
