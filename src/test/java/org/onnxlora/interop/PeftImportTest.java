package org.onnxlora.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Half;
import org.onnxlora.io.SafetensorsDtype;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.testing.Fixtures;

/** Reading PEFT folders: PEFT's matching rules, 16-bit tensors, and errors that name the offending key. */
class PeftImportTest {
    static final Path NATIVE = Path.of("models", "tiny-bart", "goldens", "peft_native");
    static final String Q0 = "base_model.model.model.encoder.layers.0.self_attn.q_proj.lora_A.weight";

    @TempDir
    Path tmp;

    /** A tensor of the adapter file. */
    record T(long[] shape, float[] values) {}

    /** A copy of the PEFT-made adapter with its tensors and config edited. */
    Path variant(UnaryOperator<Map<String, T>> tensors, SafetensorsDtype dtype,
            java.util.function.Consumer<JsonObject> config) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "peft");
        Map<String, T> values = new LinkedHashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(NATIVE.resolve(Peft.WEIGHTS))) {
            for (String n : st.names()) {
                values.put(n, new T(st.shape(n), st.floats(n)));
            }
        }
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        tensors.apply(values).forEach((k, t) -> w.putFloats(k, dtype, t.shape(), t.values()));
        w.write(dir.resolve(Peft.WEIGHTS));
        JsonObject cfg = JsonParser.parseString(Files.readString(NATIVE.resolve(PeftConfig.FILE))).getAsJsonObject();
        config.accept(cfg);
        Files.writeString(dir.resolve(PeftConfig.FILE), cfg.toString());
        return dir;
    }

    Path variant(UnaryOperator<Map<String, T>> tensors) throws IOException {
        return variant(tensors, SafetensorsDtype.F32, c -> {});
    }

    String error(Path dir) {
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> PeftImport.check(Fixtures.torchscript(), dir, ModelFamily.bart()));
        return e.getMessage();
    }

    static void contains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "'" + p + "' not in: " + message);
        }
    }

    @Test
    void peftRulesForRanksAlphasAndTargets() {
        PeftConfig c = PeftConfig.read(NATIVE);
        assertEquals(2, c.rankFor("model.decoder.layers.0.encoder_attn.k_proj"));
        assertEquals(4, c.rankFor("model.decoder.layers.0.self_attn.k_proj"));
        assertEquals(6, c.rankFor("model.encoder.layers.1.self_attn.q_proj"));
        assertEquals(5.0, c.alphaFor("model.decoder.layers.1.self_attn.v_proj"));
        assertEquals(12.0, c.alphaFor("model.decoder.layers.0.self_attn.v_proj"));
        assertTrue(c.targets("model.decoder.layers.0.self_attn.out_proj"));
        assertTrue(!c.targets("model.decoder.layers.0.fc1"));
        Adapter a = Peft.read(NATIVE, ModelFamily.bart()).adapter();
        assertEquals(24, a.modules().size());
        assertEquals(12 / Math.sqrt(4), a.module("model.encoder.layers.0.self_attn.v_proj").scaling(), 1e-15);
    }

    @Test
    void sixteenBitTensorsReadExactly() throws IOException {
        for (SafetensorsDtype dt : List.of(SafetensorsDtype.F16, SafetensorsDtype.BF16)) {
            Path dir = variant(m -> m, dt, c -> {});
            Adapter a = Peft.read(dir, ModelFamily.bart()).adapter();
            Adapter f32 = Peft.read(NATIVE, ModelFamily.bart()).adapter();
            String path = "model.encoder.layers.0.self_attn.q_proj";
            double[] got = a.module(path).tensors().a();
            double[] ref = f32.module(path).tensors().a();
            for (int i = 0; i < ref.length; i++) {
                float r = (float) ref[i];
                double want = dt == SafetensorsDtype.F16 ? Half.toFloat(Half.fromFloat(r))
                        : Half.bf16ToFloat(Half.floatToBf16(r));
                assertEquals(want, got[i], 0.0, dt + " element " + i);
            }
        }
    }

    @Test
    void missingConfigNamesTheFile() throws IOException {
        Path dir = variant(m -> m);
        Files.delete(dir.resolve(PeftConfig.FILE));
        contains(error(dir), "has no adapter_config.json");
        Path noWeights = Files.createTempDirectory(tmp, "only-config");
        Files.copy(NATIVE.resolve(PeftConfig.FILE), noWeights.resolve(PeftConfig.FILE));
        contains(error(noWeights), "has no adapter_model.safetensors");
    }

    @Test
    void wrongPeftTypeOrDoraIsRefusedByKey() throws IOException {
        contains(error(variant(m -> m, SafetensorsDtype.F32, c -> c.addProperty("peft_type", "IA3"))),
                "'peft_type'", "IA3");
        contains(error(variant(m -> m, SafetensorsDtype.F32, c -> c.addProperty("use_dora", true))), "'use_dora'");
        contains(error(variant(m -> m, SafetensorsDtype.F32, c -> c.addProperty("r", "eight"))), "'r'");
    }

    @Test
    void anotherArchitectureIsNamed() throws IOException {
        Path dir = variant(m -> {
            Map<String, T> out = new LinkedHashMap<>();
            m.forEach((k, v) -> out.put(k.replace("model.encoder.layers.0.self_attn.q_proj", "transformer.h.0.attn.c_attn"), v));
            return out;
        }, SafetensorsDtype.F32, c -> c.addProperty("base_model_name_or_path", "gpt2"));
        contains(error(dir), "base_model.model.transformer.h.0.attn.c_attn.lora_A.weight", "another architecture", "gpt2");
    }

    @Test
    void shapeAndRankMismatchesNameTheTensor() throws IOException {
        // lora_A of another width: [4, 32] instead of [4, 64]
        Path wide = variant(m -> {
            m.put(Q0, new T(new long[] {4, 32}, new float[4 * 32]));
            return m;
        });
        contains(error(wide), Q0, "32 input features", "has 64");
        // rank disagrees with adapter_config.json
        Path rank = variant(m -> m, SafetensorsDtype.F32, c -> c.addProperty("r", 8));
        contains(error(rank), "lora_A.weight", "has rank 4", "'r' says 8");
        // lora_B missing
        Path half = variant(m -> {
            m.remove(Q0.replace("lora_A", "lora_B"));
            return m;
        });
        contains(error(half), Q0, "no matching 'lora_B'");
    }

    @Test
    void unknownAndMissingModulesAreListedByName() throws IOException {
        Path unknown = variant(m -> {
            Map<String, T> out = new LinkedHashMap<>(m);
            for (String k : m.keySet()) {
                if (k.contains("encoder.layers.0.self_attn.q_proj")) {
                    out.put(k.replace("layers.0", "layers.5"), m.get(k));
                }
            }
            return out;
        });
        contains(error(unknown), "model.encoder.layers.5.self_attn.q_proj", "does not have");
        Path missing = variant(m -> {
            m.keySet().removeIf(k -> k.contains("decoder.layers.1.encoder_attn.v_proj"));
            return m;
        });
        contains(error(missing), "'target_modules' selects", "model.decoder.layers.1.encoder_attn.v_proj");
        Path fc1 = variant(m -> {
            m.put("base_model.model.model.encoder.layers.0.fc1.lora_A.weight", new T(new long[] {4, 64}, new float[4 * 64]));
            m.put("base_model.model.model.encoder.layers.0.fc1.lora_B.weight", new T(new long[] {256, 4}, new float[4 * 256]));
            return m;
        });
        contains(error(fc1), "model.encoder.layers.0.fc1", "outside attention");
    }

    @Test
    void fanInFanOutDoesNotChangeTheFactors() throws IOException {
        // PEFT resets fan_in_fan_out to false for nn.Linear targets: the factors mean the same
        Path dir = variant(m -> m, SafetensorsDtype.F32, c -> c.addProperty("fan_in_fan_out", true));
        Adapter a = Peft.read(dir, ModelFamily.bart()).adapter();
        Adapter b = Peft.read(NATIVE, ModelFamily.bart()).adapter();
        String p = "model.decoder.layers.0.self_attn.q_proj";
        assertArrayEquals(b.delta(p), a.delta(p));
    }
}
