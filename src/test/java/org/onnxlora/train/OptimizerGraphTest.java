package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/** The compiled AdamW step, fed PyTorch's gradients, reproduces torch.optim.AdamW. */
class OptimizerGraphTest {
    /** The multi-tensor step's size bound (issue 11); a graph per tensor had 774 nodes for 72 adapters. */
    static final int MAX_NODES = 60;

    @Test
    void reproducesTorchAdamWOverThreeSteps() throws Exception {
        try (Goldens gold = new Goldens()) {
            List<AdapterSpec> specs = new ArrayList<>();
            for (String a : gold.adapters) {
                specs.add(new AdapterSpec(a, gold.shape("init/" + a), 1));
            }
            AdapterLayout layout = new AdapterLayout(specs);
            ModelProto graph = OptimizerGraph.build(layout, gold.optimizerConfig());
            OrtEnvironment env = Sessions.env();
            double lr = gold.optimizer().get("lr").getAsDouble();
            long[] flat = {layout.elements()};
            try (OrtSession s = Sessions.create(graph, RuntimeOptions.defaults(), "optimizer graph")) {
                for (int step = 1; step <= 3; step++) {
                    String prev = "step" + (step - 1);
                    Map<String, float[]> p = new HashMap<>();
                    Map<String, float[]> m = new HashMap<>();
                    Map<String, float[]> v = new HashMap<>();
                    Map<String, float[]> g = new HashMap<>();
                    for (AdapterSpec a : specs) {
                        String n = a.name();
                        p.put(n, gold.get(step == 1 ? "init/" + n : prev + "/param/" + n));
                        m.put(n, step == 1 ? new float[(int) a.elements()] : gold.get(prev + "/exp_avg/" + n));
                        v.put(n, step == 1 ? new float[(int) a.elements()] : gold.get(prev + "/exp_avg_sq/" + n));
                        g.put(n, gold.get("step" + step + "/grad/" + n));
                    }
                    Map<String, OnnxTensor> feeds = new HashMap<>();
                    try {
                        feeds.put(OptimizerGraph.PARAMS, OnnxTensor.createTensor(env, pack(layout, p), flat));
                        feeds.put(OptimizerGraph.EXP_AVG, OnnxTensor.createTensor(env, pack(layout, m), flat));
                        feeds.put(OptimizerGraph.EXP_AVG_SQ, OnnxTensor.createTensor(env, pack(layout, v), flat));
                        feeds.put(OptimizerGraph.GRADS, OnnxTensor.createTensor(env, pack(layout, g), flat));
                        feeds.put(OptimizerGraph.LR, OnnxTensor.createTensor(env, lr));
                        feeds.put(OptimizerGraph.STEP, OnnxTensor.createTensor(env, (long) step));
                        feeds.put(OptimizerGraph.GRAD_SCALE, OnnxTensor.createTensor(env, 1f));
                        try (OrtSession.Result r = s.run(feeds)) {
                            float norm = (Float) ((OnnxTensor) r.get(OptimizerGraph.GRAD_NORM).orElseThrow()).getValue();
                            assertEquals(gold.step(step).get("grad_norm").getAsDouble(), norm, 1e-5 * norm);
                            for (String[] out : new String[][] {{OptimizerGraph.PARAMS, "param"},
                                    {OptimizerGraph.EXP_AVG, "exp_avg"}, {OptimizerGraph.EXP_AVG_SQ, "exp_avg_sq"}}) {
                                float[] got = floats(r, AdapterSpec.updated(out[0]));
                                for (AdapterSpec a : specs) {
                                    String key = "step" + step + "/" + out[1] + "/" + a.name();
                                    double err = Goldens.relErr(slice(layout, got, a), gold.get(key));
                                    assertTrue(err <= 1e-6, key + ": relative error " + err);
                                }
                                assertGapsZero(layout, got);
                            }
                        }
                    } finally {
                        feeds.values().forEach(OnnxTensor::close);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"q_proj,v_proj", "q_proj,k_proj,v_proj", "q_proj,k_proj,v_proj,out_proj"})
    void compiledOptimizerIsSmallForAnyNumberOfAdapters(String targets) {
        ModelProto base = ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of(targets.split(",")), LoraConfig.Init.KAIMING, 0);
        ModelProto patched = new PatchPass(ModelFamily.bart()).patch(base, null, cfg, new AdapterInit(cfg.init(), 0));
        TrainingCompiler.Artifacts art = new TrainingCompiler().compile(patched, TrainingCompiler.Options.defaults());
        int adapters = art.adapters().size();
        assertEquals(12 * targets.split(",").length, adapters, "tiny BART: 6 attention blocks, A and B per module");
        int nodes = art.optimizer().getGraph().getNodeCount();
        assertTrue(nodes <= MAX_NODES, adapters + " adapters: optimizer has " + nodes + " nodes");
    }

    @Test
    void nodeCountDoesNotGrowWithTheAdapters() {
        int[] counts = new int[3];
        int[] tensors = {2, 72, 720};
        for (int k = 0; k < tensors.length; k++) {
            List<AdapterSpec> specs = new ArrayList<>();
            for (int i = 0; i < tensors[k]; i++) {
                specs.add(new AdapterSpec("layer" + i + ".lora_" + (i % 2 == 0 ? "A" : "B"), new long[] {64, 8}, 1));
            }
            counts[k] = OptimizerGraph.build(specs, OptimizerConfig.DEFAULT).getGraph().getNodeCount();
        }
        assertEquals(counts[0], counts[1]);
        assertEquals(counts[0], counts[2]);
        assertTrue(counts[2] <= MAX_NODES, counts[2] + " nodes");
    }

    /**
     * Adapters whose sizes are not multiples of the alignment: each is updated exactly as it is
     * alone (clipping off, so no global coupling), and the gaps between them stay zero.
     */
    @Test
    void unalignedAdaptersUpdateAsIfAlone() throws Exception {
        OptimizerConfig cfg = new OptimizerConfig(0.9, 0.999, 1e-8, 0.01, 0);
        List<AdapterSpec> specs = List.of(new AdapterSpec("a", new long[] {3, 5}, 1),
                new AdapterSpec("b", new long[] {7, 1}, 1), new AdapterSpec("c", new long[] {2, 9}, 1));
        java.util.SplittableRandom rng = new java.util.SplittableRandom(7);
        List<Map<String, float[]>> state = new ArrayList<>(); // p, g, m, v
        for (int k = 0; k < 4; k++) {
            Map<String, float[]> x = new HashMap<>();
            for (AdapterSpec a : specs) {
                float[] f = new float[(int) a.elements()];
                for (int i = 0; i < f.length; i++) {
                    f[i] = (float) (k == 3 ? rng.nextDouble() : rng.nextDouble(-1, 1));
                }
                x.put(a.name(), f);
            }
            state.add(x);
        }
        AdapterLayout all = new AdapterLayout(specs);
        assertTrue(all.elements() > 15 + 7 + 18, "the layout has gaps");
        float[][] together = step(all, cfg, state);
        for (AdapterSpec a : specs) {
            float[][] alone = step(new AdapterLayout(List.of(a)), cfg, state);
            for (int k = 0; k < 3; k++) {
                assertTrue(java.util.Arrays.equals(slice(all, together[k], a), slice(new AdapterLayout(List.of(a)),
                        alone[k], a)), a.name() + " output " + k);
            }
        }
        for (float[] out : together) {
            assertGapsZero(all, out);
        }
    }

    /** One optimizer step at step 2, lr 1e-2; returns the new adapters, exp_avg and exp_avg_sq. */
    private static float[][] step(AdapterLayout layout, OptimizerConfig cfg, List<Map<String, float[]>> state)
            throws Exception {
        OrtEnvironment env = Sessions.env();
        long[] flat = {layout.elements()};
        Map<String, OnnxTensor> feeds = new HashMap<>();
        String[] inputs = {OptimizerGraph.PARAMS, OptimizerGraph.GRADS, OptimizerGraph.EXP_AVG, OptimizerGraph.EXP_AVG_SQ};
        try (OrtSession s = Sessions.create(OptimizerGraph.build(layout, cfg), RuntimeOptions.defaults(), "optimizer")) {
            for (int k = 0; k < 4; k++) {
                feeds.put(inputs[k], OnnxTensor.createTensor(env, pack(layout, state.get(k)), flat));
            }
            feeds.put(OptimizerGraph.LR, OnnxTensor.createTensor(env, 1e-2));
            feeds.put(OptimizerGraph.STEP, OnnxTensor.createTensor(env, 2L));
            feeds.put(OptimizerGraph.GRAD_SCALE, OnnxTensor.createTensor(env, 0.5f));
            try (OrtSession.Result r = s.run(feeds)) {
                return new float[][] {floats(r, AdapterSpec.updated(OptimizerGraph.PARAMS)),
                        floats(r, AdapterSpec.updated(OptimizerGraph.EXP_AVG)),
                        floats(r, AdapterSpec.updated(OptimizerGraph.EXP_AVG_SQ))};
            }
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
    }

    static FloatBuffer pack(AdapterLayout layout, Map<String, float[]> values) {
        float[] flat = new float[layout.elements()];
        for (AdapterSpec a : layout.specs()) {
            float[] x = values.get(a.name());
            System.arraycopy(x, 0, flat, layout.offset(a.name()), x.length);
        }
        return FloatBuffer.wrap(flat);
    }

    static float[] slice(AdapterLayout layout, float[] flat, AdapterSpec a) {
        int o = layout.offset(a.name());
        return java.util.Arrays.copyOfRange(flat, o, o + (int) a.elements());
    }

    /** The alignment gaps stay zero, so they never reach the norm or an adapter. */
    private static void assertGapsZero(AdapterLayout layout, float[] flat) {
        boolean[] used = new boolean[flat.length];
        for (AdapterSpec a : layout.specs()) {
            java.util.Arrays.fill(used, layout.offset(a.name()), layout.offset(a.name()) + (int) a.elements(), true);
        }
        for (int i = 0; i < flat.length; i++) {
            if (!used[i]) {
                assertEquals(0f, flat[i], "gap element " + i);
            }
        }
    }

    private static float[] floats(OrtSession.Result r, String name) {
        FloatBuffer fb = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
        float[] got = new float[fb.remaining()];
        fb.get(got);
        return got;
    }
}
