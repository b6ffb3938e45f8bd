package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.TinyGraphs;

/** The patch, merge and adapter-arithmetic passes report what they changed and what they left alone, and why. */
class PassReportsTest {
    static final int F = DataType.FLOAT_VALUE;
    static final String Q = "model.encoder.layers.0.self_attn.q_proj";
    static final String K = "model.encoder.layers.0.self_attn.k_proj";
    final Verifier verifier = new Verifier(RuntimeOptions.defaults().withOptimize(false));
    final PatchPass patch = new PatchPass(ModelFamily.bart());

    /** x → q_proj, k_proj → q + k. */
    private static ModelProto base() {
        TinyGraphs t = new TinyGraphs(7).input("x", F, "batch", "seq", 6);
        String q = t.linear("x", Q, 6, 5, F, null);
        String k = t.linear("x", K, 6, 5, F, null);
        t.node("Add", "/sum", List.of(q, k), List.of("y")).output("y", F, "batch", "seq", 5);
        return t.model();
    }

    private PassResult<ModelProto> patchQ(ModelProto base) {
        LoraConfig cfg = new LoraConfig(2, 4, List.of("q_proj"), LoraConfig.Init.GAUSSIAN, 1);
        PatchPlan plan = patch.plan(base, null, cfg);
        return patch.apply(base, cfg, plan, PatchMergeFixtureTest.nonZero());
    }

    @Test
    void patchReportsThePatchedModulesAndWhyTheOthersWereLeftAlone() {
        ModelProto base = base();
        PassResult<ModelProto> r = patchQ(base);
        assertEquals("lora-patch", r.pass());
        assertEquals(List.of(Q), r.changed());
        assertEquals(1, r.refused().size());
        assertEquals(K, r.refused().get(0).subject());
        assertTrue(r.refused().get(0).reason().contains("not selected"), r.refused().get(0).reason());
        assertEquals(1, BranchFinder.find(r.output().getGraph()).size());
        assertTrue(verifier.compare(base, r.output(), 2, 1).maxAbs() > 1e-3, "a non-zero adapter changes the output");
    }

    @Test
    void aPlanWithNothingSelectedLeavesTheModelAsItIs() {
        ModelProto base = base();
        LoraConfig cfg = new LoraConfig(2, 4, List.of("v_proj"), LoraConfig.Init.GAUSSIAN, 1);
        PassResult<ModelProto> r = patch.apply(base, cfg, patch.plan(base, null, cfg), PatchMergeFixtureTest.nonZero());
        assertEquals(List.of(), r.changed());
        assertEquals(2, r.refused().size());
        assertSame(base, r.output());
    }

    @Test
    void mergeReportsTheFoldedModulesAndRefusesStrayFactors() {
        ModelProto trained = patchQ(base()).output();
        // a factor outside any branch: stays, and the report says so
        ModelProto withStray = trained.toBuilder().setGraph(trained.getGraph().toBuilder()
                .addInitializer(new TinyGraphs(9).random("stray.lora_A", F, 6, 2))).build();
        PassResult<ModelProto> r = new BranchMergePass().apply(withStray, org.onnxlora.lora.AdapterValues.none());
        assertEquals("lora-merge", r.pass());
        assertEquals(List.of(Q), r.changed());
        assertEquals(List.of("stray.lora_A"), r.refused().stream().map(PassResult.Refusal::subject).toList());
        assertTrue(new GraphIndex(r.output().getGraph()).isInitializer("stray.lora_A"));
        double d = verifier.compare(trained, r.output(), 2, 2).maxAbs();
        assertTrue(d <= 1e-4, "merged differs by " + d);

        PassResult<ModelProto> clean = new BranchMergePass().apply(trained, org.onnxlora.lora.AdapterValues.none());
        assertEquals(List.of(), clean.refused());
    }

    @Test
    void adapterArithmeticReportsUpdatedModulesAndRefusesMissingOnes() {
        ModelProto base = base();
        ModelProto trained = patchQ(base).output();
        GraphIndex g = new GraphIndex(trained.getGraph());
        LoraBranch br = BranchFinder.find(trained.getGraph()).get(0);
        AdapterTensors t = BranchTensors.stored(g, br);
        String absent = "model.decoder.layers.3.self_attn.q_proj";
        Map<String, Adapter.Module> modules = new LinkedHashMap<>();
        modules.put(Q, new Adapter.Module(Q, 4, t, br.loraA(), br.loraB()));
        modules.put(absent, new Adapter.Module(absent, 4, t, absent + ".lora_A", absent + ".lora_B"));
        Adapter a = new Adapter("test", false, modules);

        PassResult<ModelProto> r = new AdapterMergePass(ModelFamily.bart())
                .apply(base, null, List.of(new AdapterMergePass.Term(1, a)));
        assertEquals("adapter-merge", r.pass());
        assertEquals(List.of(Q), r.changed());
        assertEquals(List.of(new PassResult.Refusal(absent, "no such projection in this file")), r.refused());
        // adding the adapter to the plain model computes what the patched model computes
        double d = verifier.compare(trained, r.output(), 2, 3).maxAbs();
        assertTrue(d <= 1e-4, "adapter arithmetic differs from the patched model by " + d);
    }
}
