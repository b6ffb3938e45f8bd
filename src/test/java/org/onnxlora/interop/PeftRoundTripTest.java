package org.onnxlora.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.Progress;
import org.onnxlora.io.Overwrite;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.AdapterMergePass;
import org.onnxlora.lora.AdapterMerger;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchedAdapters;
import org.onnxlora.lora.Patcher;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/**
 * Round trips against real PEFT (goldens written by tools/make_peft_goldens.py on the
 * Hugging Face model the fixtures were exported from):
 * <ul>
 * <li>export: an adapter made here, exported with {@link Peft#write} (goldens/peft_export, checked to be
 *     exactly what this code writes), loaded with {@code PeftModel.from_pretrained}: PyTorch's logits
 *     equal those of onnx-lora's merged ONNX model;
 * <li>import: adapters made and saved by PEFT itself (rank_pattern, alpha_pattern, rsLoRA; fp32 and
 *     bf16 safetensors) merged with {@code merge --peft} and patched with {@code patch --from-peft} into
 *     both exporter flavors give PyTorch's logits.
 * </ul>
 */
class PeftRoundTripTest {
    static final double TOLERANCE = 1e-4;
    static final Path GOLDENS = Path.of("models", "tiny-bart", "goldens");
    static final Path EXPORT = GOLDENS.resolve("peft_export");

    @TempDir
    Path tmp;

    /** The adapter whose PEFT export is committed: rank/alpha patterns and rsLoRA, trained-looking values. */
    static LoraConfig exportConfig() {
        return new LoraConfig(4, 8, List.of("q_proj", "v_proj", "out_proj"), LoraConfig.Init.GAUSSIAN, 5, true,
                Map.of("v_proj", 2), Map.of("encoder_attn.out_proj", 3.0));
    }

    Path exportedPatched() {
        Path p = tmp.resolve("patched.onnx");
        new Patcher(ModelFamily.bart(), Progress.NONE).patch(Fixtures.torchscript(), p, exportConfig(),
                Logits.nonZero(5, 0.05), Overwrite.REFUSE);
        return p;
    }

    @Test
    void exportIsWhatPeftLoadedAndPeftComputesTheMergedModel() throws Exception {
        Path patched = exportedPatched();
        Adapter a = PatchedAdapters.read(patched, org.onnxlora.lora.AdapterValues.none(), "test adapter");
        Path dir = tmp.resolve("peft");
        Peft.write(a, AdapterMerger.knownModules(patched, ModelFamily.bart()).keySet(), dir, null);
        if (Boolean.getBoolean("onnxlora.writeGoldens")) {
            Files.createDirectories(EXPORT);
            Files.copy(dir.resolve(Peft.WEIGHTS), EXPORT.resolve(Peft.WEIGHTS),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Files.copy(dir.resolve(PeftConfig.FILE), EXPORT.resolve(PeftConfig.FILE),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        // what we write today is byte for byte what PEFT loaded
        assertArrayEquals(Files.readAllBytes(EXPORT.resolve(Peft.WEIGHTS)), Files.readAllBytes(dir.resolve(Peft.WEIGHTS)));
        JsonObject cfg = JsonParser.parseString(Files.readString(dir.resolve(PeftConfig.FILE))).getAsJsonObject();
        assertEquals(JsonParser.parseString(Files.readString(EXPORT.resolve(PeftConfig.FILE))), cfg);
        assertEquals(4, cfg.get("r").getAsInt());
        assertEquals(2, cfg.getAsJsonObject("rank_pattern").get("v_proj").getAsInt());
        assertEquals(2, cfg.getAsJsonObject("alpha_pattern").size()); // the two cross-attention out_proj
        assertTrue(cfg.get("use_rslora").getAsBoolean());
        assertEquals("SEQ_2_SEQ_LM", cfg.get("task_type").getAsString());
        try (SafetensorsFile st = SafetensorsFile.open(dir.resolve(Peft.WEIGHTS))) {
            String k = "base_model.model.model.encoder.layers.0.self_attn.v_proj.lora_A.weight";
            assertArrayEquals(new long[] {2, 64}, st.shape(k));
            assertArrayEquals(new long[] {64, 4},
                    st.shape("base_model.model.model.decoder.layers.1.encoder_attn.q_proj.lora_B.weight"));
        }

        Path merged = tmp.resolve("merged.onnx");
        new BranchMerger(Progress.NONE).merge(patched, merged, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);
        Goldens g = Goldens.load();
        if (g == null) {
            return;
        }
        double d = g.diff(merged, "logits_export");
        System.out.printf("PEFT (PyTorch) vs onnx-lora merged ONNX, exported adapter: max abs %.3g%n", d);
        assertTrue(d <= TOLERANCE, "PyTorch+PEFT differs from onnx-lora's merged model by " + d);
        double viaPeft = g.diff(importMerge(Fixtures.torchscript(), EXPORT), "logits_export");
        assertTrue(viaPeft <= TOLERANCE, "re-importing the export differs by " + viaPeft);
    }

    static Stream<Object[]> importCases() {
        return Stream.of(new Object[] {"peft_native", "logits_native"}, new Object[] {"peft_native_bf16", "logits_native_bf16"});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("importCases")
    void adaptersSavedByPeftMergeAndPatchToPyTorchsLogits(String dirName, String golden) throws Exception {
        Goldens g = Goldens.load();
        if (g == null) {
            return;
        }
        Path dir = GOLDENS.resolve(dirName);
        for (Path model : List.of(Fixtures.torchscript(), Fixtures.dynamo())) {
            double merged = g.diff(importMerge(model, dir), golden);
            Path patched = tmp.resolve("p-" + model.getFileName());
            Peft.Loaded peft = PeftImport.check(model, dir, ModelFamily.bart());
            new Patcher(ModelFamily.bart(), Progress.NONE).patch(model, patched, peft.adapter().patchConfig(),
                    peft.adapter(), Overwrite.REPLACE);
            double viaPatch = g.diff(patched, golden);
            System.out.printf("%s on %s: merge --peft %.3g, patch --from-peft %.3g%n", dirName, model.getFileName(),
                    merged, viaPatch);
            assertTrue(merged <= TOLERANCE, dirName + " merged into " + model + " differs by " + merged);
            assertTrue(viaPatch <= TOLERANCE, dirName + " patched into " + model + " differs by " + viaPatch);
        }
        assertTrue(g.diff(Fixtures.torchscript(), "logits_base") <= TOLERANCE, "base model drifted");
        // the rank and scaling PEFT gave every module (rank_pattern, alpha_pattern, rsLoRA) are ours
        JsonObject used = JsonParser.parseString(Files.readString(GOLDENS.resolve("peft_roundtrip.json")))
                .getAsJsonObject().getAsJsonObject("native");
        Adapter a = Peft.read(dir, ModelFamily.bart()).adapter();
        assertEquals(used.keySet(), a.modules().keySet());
        for (String m : used.keySet()) {
            JsonObject u = used.getAsJsonObject(m);
            assertEquals(u.get("r").getAsInt(), a.module(m).rank(), m);
            assertEquals(u.get("scaling").getAsDouble(), a.module(m).scaling(), 1e-12, m);
        }
    }

    Path importMerge(Path model, Path peftDir) {
        Path out = tmp.resolve("w-" + peftDir.getFileName() + "-" + model.getFileName());
        Adapter a = PeftImport.check(model, peftDir, ModelFamily.bart()).adapter();
        new AdapterMerger(ModelFamily.bart(), Progress.NONE).merge(model, out, List.of(new AdapterMergePass.Term(1, a)),
                Overwrite.REPLACE);
        return out;
    }

    /** goldens/peft_roundtrip.safetensors: the batch and PyTorch's logits per case. */
    record Goldens(Map<String, float[]> logits, long[][] inputs, long[][] shapes) {
        static final String[] INPUTS = {"input_ids", "attention_mask", "decoder_input_ids"};

        static Goldens load() {
            Path f = GOLDENS.resolve("peft_roundtrip.safetensors");
            if (!Files.exists(f)) {
                System.out.println("no " + f + " yet (run tools/make_peft_goldens.py)");
                return null;
            }
            Map<String, float[]> logits = new HashMap<>();
            long[][] in = new long[3][];
            long[][] shapes = new long[3][];
            try (SafetensorsFile st = SafetensorsFile.open(f)) {
                for (String n : st.names()) {
                    if (n.startsWith("logits")) {
                        logits.put(n, st.floats(n));
                    }
                }
                for (int i = 0; i < 3; i++) {
                    in[i] = st.longs(INPUTS[i]);
                    shapes[i] = st.shape(INPUTS[i]);
                }
            }
            return new Goldens(logits, in, shapes);
        }

        double diff(Path model, String name) throws Exception {
            OrtEnvironment env = Sessions.env();
            Map<String, OnnxTensor> feed = new HashMap<>();
            try (OrtSession s = Sessions.create(model, Logits.OPTIONS)) {
                for (int i = 0; i < 3; i++) {
                    feed.put(INPUTS[i], OnnxTensor.createTensor(env, LongBuffer.wrap(inputs[i]), shapes[i]));
                }
                return Logits.maxAbs(Logits.of(s, feed, null), logits.get(name));
            } finally {
                Logits.close(feed);
            }
        }
    }

}
