package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.testing.TinyGraphs;

/** The compiler refuses what it cannot train, with the cause named. */
class CompilerErrorsTest {
    static final int F = DataType.FLOAT_VALUE;

    private static ModelProto patch(ModelProto base) {
        return patch(base, null);
    }

    private static ModelProto patch(ModelProto base, java.nio.file.Path file) {
        LoraConfig cfg = new LoraConfig(2, 4, List.of("q_proj"), LoraConfig.Init.KAIMING, 0);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        return pass.apply(base, cfg, pass.plan(base, file, cfg), new AdapterInit(cfg.init(), 0)).output();
    }

    @Test
    void unpatchedModelHasNothingToTrain() {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () ->
                new TrainingCompiler().compile(ModelIO.load(Fixtures.torchscript()), TrainingCompiler.Options.defaults()));
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
        assertTrue(e.getMessage().contains("no LoRA adapters") && e.getMessage().contains("patch"), e.getMessage());
    }

    @Test
    void opWithoutGradientRuleIsNamedWithItsNode() {
        TinyGraphs t = new TinyGraphs(1).input("h", F, "batch", "seq", 6);
        String q = t.linear("h", "model.decoder.layers.0.self_attn.q_proj", 6, 6, F, null);
        t.node("Sin", "/model/decoder/odd/Sin", List.of(q), List.of("logits")).output("logits", F, "batch", "seq", 6);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () ->
                new TrainingCompiler().compile(patch(t.model()), TrainingCompiler.Options.defaults()));
        assertEquals(ErrorCode.COMPILE, e.code());
        assertTrue(e.getMessage().contains("Sin") && e.getMessage().contains("/model/decoder/odd/Sin"), e.getMessage());
    }

    @Test
    void modelWithoutLogitsIsRefused() {
        java.nio.file.Path file = Fixtures.optimum().resolve("encoder_model.onnx");
        ModelProto encoder = patch(ModelIO.load(file), file);
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () ->
                new TrainingCompiler().compile(encoder, TrainingCompiler.Options.defaults()));
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
        assertTrue(e.getMessage().contains("no decoder logits output 'logits'"), e.getMessage());
    }
}
