package org.onnxlora.interop;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoraAdapter;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchedAdapters;
import org.onnxlora.lora.Patcher;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/** ONNX Runtime's own LoRA adapters, loaded from Java, against merged models. */
class OrtAdapterTest {
    @TempDir
    Path tmp;

    Path patch(Path model, String name, LoraConfig cfg, long seed) {
        Path p = tmp.resolve(name + ".onnx");
        new Patcher(ModelFamily.bart(), Progress.NONE).patch(model, p, cfg, Logits.nonZero(seed), Overwrite.REFUSE);
        return p;
    }

    Path merge(Path patched) {
        Path w = tmp.resolve(patched.getFileName().toString().replace(".onnx", ".merged.onnx"));
        new BranchMerger(Progress.NONE).merge(patched, w, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);
        return w;
    }

    @Test
    void adapterFileRoundTripsThroughTheFlatBuffer() {
        List<OrtAdapterFile.Parameter> params = List.of(
                new OrtAdapterFile.Parameter("x.lora_A", new long[] {3, 2}, 1, new byte[24]),
                new OrtAdapterFile.Parameter("x.lora_scaling", new long[0], 1, new byte[] {0, 0, -128, 63}));
        Path f = tmp.resolve("a.onnx_adapter");
        OrtAdapterFile.write(f, params, 7, 9);
        List<OrtAdapterFile.Parameter> back = OrtAdapterFile.read(f);
        assertEquals(2, back.size());
        assertEquals("x.lora_A", back.get(0).name());
        assertArrayEquals(new long[] {3, 2}, back.get(0).dims());
        assertEquals(0, back.get(1).dims().length);
        assertArrayEquals(new byte[] {0, 0, -128, 63}, back.get(1).rawData());
    }

    @Test
    void switchesAdaptersPerRunWithoutReloadingAndMatchesMergedModels() throws Exception {
        Path base = Fixtures.torchscript();
        List<String> qv = List.of("q_proj", "v_proj");
        Path p1 = patch(base, "a1", new LoraConfig(4, 8, qv, LoraConfig.Init.GAUSSIAN, 1), 11);
        // a second task: another rank, alpha and rsLoRA, only on the decoder's q_proj and v_proj
        Path p2 = patch(base, "a2", new LoraConfig(2, 6, List.of("model\\.decoder\\..*\\.(q|v)_proj"),
                LoraConfig.Init.GAUSSIAN, 2, true, Map.of(), Map.of()), 22);
        Adapter a1 = PatchedAdapters.read(p1, org.onnxlora.lora.AdapterValues.none(), "a1");
        Adapter a2 = PatchedAdapters.read(p2, org.onnxlora.lora.AdapterValues.none(), "a2");

        Path out = tmp.resolve("ort");
        OrtAdapters.Exported e1 = OrtAdapters.export(a1, p1, ModelFamily.bart(), out, "task1");
        // the second adapter for the same switchable model
        Path f2 = out.resolve("task2.onnx_adapter");
        OrtAdapterFile.write(f2, OrtAdapters.parameters(a2, ModelIO.load(e1.model())), 1, 1);
        assertEquals(12 * 3, OrtAdapterFile.read(e1.adapter()).size());

        OrtEnvironment env = Sessions.env();
        Map<String, OnnxTensor> in = Logits.batch(env);
        try (OrtSession s = Sessions.create(e1.model(), Logits.OPTIONS);
                OrtLoraAdapter l1 = OrtLoraAdapter.create(e1.adapter().toString());
                OrtLoraAdapter l2 = OrtLoraAdapter.create(f2.toString())) {
            float[] want1 = Logits.of(merge(p1), in);
            float[] want2 = Logits.of(merge(p2), in);
            float[] wantBase = Logits.of(base, in);
            for (int round = 0; round < 2; round++) {
                for (int task = 0; task < 3; task++) {
                    try (OrtSession.RunOptions ro = new OrtSession.RunOptions()) {
                        if (task == 0) {
                            ro.addActiveLoraAdapter(l1);
                        } else if (task == 1) {
                            ro.addActiveLoraAdapter(l2);
                        }
                        float[] got = Logits.of(s, in, ro);
                        float[] want = task == 0 ? want1 : task == 1 ? want2 : wantBase;
                        double d = Logits.maxAbs(got, want);
                        System.out.printf("round %d task %d: max |ORT adapter - merged| = %.3g%n", round, task, d);
                        assertTrue(d <= 1e-4, "task " + task + " differs from its merged model by " + d);
                    }
                }
            }
            assertTrue(Logits.maxAbs(want1, want2) > 1e-2, "the two tasks should differ");
        } finally {
            Logits.close(in);
        }
    }
}
