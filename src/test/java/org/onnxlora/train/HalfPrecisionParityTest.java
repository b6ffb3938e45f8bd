package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.run.LossScaleState;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * A half-precision training step of the tiny fixture against PyTorch autocast + PEFT with the
 * base model in that dtype and float32 adapters (tools/make_halfprec_goldens.py; same batch and
 * adapters as the float32 goldens): loss within 1e-2 relative, every adapter gradient within
 * 5e-2 of its largest value. fp16 runs on ONNX Runtime's CPU provider; bf16 cannot (no CPU
 * kernels), so its test asserts the one-line refusal and the GPU phase checks its numbers.
 */
class HalfPrecisionParityTest {
    static Goldens gold;
    static SafetensorsFile half;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() throws Exception {
        gold = new Goldens();
        TrainingParityTest.gold = gold;
        half = SafetensorsFile.open(Fixtures.goldens().resolve("halfprec_step.safetensors"));
    }

    @AfterAll
    static void close() {
        half.close();
        gold.close();
    }

    static TrainingCompiler.Artifacts compiled(Path model, Precision p) {
        TrainingCompiler.Options opts = new TrainingCompiler.Options(LossConfig.DEFAULT, gold.optimizerConfig(),
                "logits", p);
        return new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model), opts);
    }

    static Path written(TrainingCompiler.Artifacts art, String tag) {
        Path dir = tmp.resolve(tag);
        ArtifactStore.write(art, TrainingCompiler.Options.defaults(), dir);
        return dir;
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#exportsWithFourInputs")
    void fp16StepMatchesPyTorchAutocast(Path model) {
        Path dir = written(compiled(model, Precision.FP16), model.getFileName() + "-fp16");
        try (TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2))) {
            LossScaler scaler = s.lossScaler().orElseThrow();
            assertEquals(65536, scaler.scale(), "fp16 starts at GradScaler's scale");
            // at 65536 this batch's largest gradients leave float16's range (PyTorch's too): skip and back off
            float[] before = s.adapter(gold.adapters.get(1));
            s.forwardBackward(TrainingParityTest.goldenBatch());
            assertFalse(Double.isFinite(s.applyUpdate(1e-3)), "overflow");
            assertEquals(0, s.step(), "a skipped step is not an AdamW step");
            assertEquals(new LossScaleState(32768, 0, 1), scaler.state());
            assertArrayEquals(before, s.adapter(gold.adapters.get(1)), "skipped: adapters unchanged");

            scaler.restore(new LossScaleState(1024, 0, 1));
            TrainingSession.Pass pass = s.forwardBackward(TrainingParityTest.goldenBatch());
            double ref = half.floats("fp16/loss")[0];
            double lossErr = Math.abs(pass.meanLoss() - ref) / Math.abs(ref);
            assertTrue(lossErr <= 1e-2, "loss " + pass.meanLoss() + " vs PyTorch fp16 autocast " + ref);
            for (String a : gold.adapters) {
                float[] g = s.accumulatedGradient(a);
                // one micro-batch: the seed was scale / tokens, so these are scale × gradients of the mean loss
                for (int i = 0; i < g.length; i++) {
                    g[i] /= 1024f;
                }
                double err = Goldens.relErr(g, half.floats("fp16/grad/" + a));
                assertTrue(err <= 5e-2, model.getFileName() + " fp16 gradient of " + a + ": relative error " + err);
            }
            // the optimizer divides the scale out again: the norm is the float32 goldens' within fp16 noise
            double norm = s.applyUpdate(1e-3);
            assertEquals(gold.step(1).get("grad_norm").getAsDouble(), norm, 2e-2 * norm);
            assertEquals(1, s.step());
            assertEquals(new LossScaleState(1024, 1, 1), scaler.state());
        }
    }

    @Test
    void halfArtifactsStoreFrozenWeightsInHalfAndKeepAdaptersFloat32() {
        TrainingCompiler.Artifacts art = compiled(Fixtures.torchscript(), Precision.BF16);
        long bf16 = 0;
        long fp32Big = 0;
        for (TensorProto t : art.training().getGraph().getInitializerList()) {
            if (org.onnxlora.io.Tensors.elementCount(t) > 64) {
                bf16 += t.getDataType() == DataType.BFLOAT16_VALUE ? 1 : 0;
                fp32Big += t.getDataType() == DataType.FLOAT_VALUE ? 1 : 0;
            }
        }
        assertTrue(bf16 > 10, "frozen matrices are bfloat16: " + bf16);
        assertEquals(0, fp32Big, "no frozen matrix stays float32");
        for (AdapterSpec a : art.adapters()) {
            assertEquals(DataType.FLOAT_VALUE, a.dataType(), a.name());
        }
        ModelProto t = art.training();
        assertTrue(t.getGraph().getOutputList().stream().filter(o -> o.getName().startsWith("grad."))
                .allMatch(o -> o.getType().getTensorType().getElemType() == DataType.FLOAT_VALUE));
        assertTrue(t.getGraph().getInputList().stream().noneMatch(i -> i.getName().equals(TrainingCompiler.LOSS_SCALE)),
                "bf16 needs no loss scaling");
        assertEquals(Precision.BF16, Precision.of(t));
    }

    @Test
    void bf16IsRefusedOnCpuInOneLineBeforeAnySession() {
        Path dir = written(compiled(Fixtures.torchscript(), Precision.BF16), "bf16");
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2)).close());
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("bf16") && e.getMessage().contains("CPU") && !e.getMessage().contains("\n"),
                e.getMessage());
    }

    @Test
    void parsesEveryPrecisionAndRefusesOthers() {
        for (Precision p : Precision.values()) {
            assertEquals(p, Precision.parse(p.label().toUpperCase()));
        }
        assertEquals(List.of(false, false, true, true), List.of(Precision.values()).stream().map(Precision::isHalf)
                .toList());
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Precision.parse("fp8"));
        assertTrue(e.getMessage().contains("fp32, tf32, bf16 or fp16"), e.getMessage());
    }
}
