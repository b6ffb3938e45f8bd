package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.Fixtures;

/**
 * LoRA A products that read one activation become one product and a Split, with the same outputs in ONNX Runtime
 * before and after on every export; the compiled training graph then has one weight-gradient product per group.
 */
class SiblingAdapterPassTest {

    private static long aProducts(GraphProto g) {
        return g.getNodeList().stream()
                .filter(n -> n.getOpType().equals("MatMul") && n.getInputList().stream().anyMatch(i -> i.endsWith(".lora_A")))
                .count();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.train.ReplayHazardsTest#exports")
    void siblingsShareOneProductWithTheSameOutputs(Path model) {
        ModelProto before = LoraBranchFoldPassTest.patched(model);
        PassResult<GraphProto> r = new SiblingAdapterPass().apply(before.getGraph());
        // q, k, v (targeted with out_proj) of each attention read one input; so do every cross-attention k and v
        assertTrue(r.changed().size() >= 2, "groups: " + r.changed());
        assertTrue(aProducts(r.output()) < aProducts(before.getGraph()), r.changed().toString());
        SameOutputs.assertWithin(before, before.toBuilder().setGraph(r.output()).build(), 2e-6, 2e-3);
    }

    @Test
    void theEncoderOutputsCrossAttentionAdaptersAreOneGroup() {
        ModelProto before = LoraBranchFoldPassTest.patched(Fixtures.torchscript());
        PassResult<GraphProto> r = new SiblingAdapterPass().apply(before.getGraph());
        long layers = BranchFinder.find(before.getGraph()).stream()
                .filter(b -> b.modulePath().contains("encoder_attn.k_proj")).count();
        assertTrue(layers >= 2, "the fixture has " + layers + " decoder layers");
        String cross = r.changed().stream().filter(s -> s.contains("encoder_attn.k_proj")).findFirst().orElseThrow();
        assertEquals(2 * layers, cross.split("\\|").length, cross);
        assertTrue(cross.contains("encoder_attn.v_proj"), cross);
    }

    /** Siblings of different ranks (a PEFT rank pattern) split back at their own widths. */
    @Test
    void siblingsOfDifferentRanksSplitAtTheirOwnWidths() {
        ModelProto base = org.onnxlora.io.ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj", "k_proj", "v_proj"), LoraConfig.Init.KAIMING, 0, false,
                Map.of("v_proj", 2, "k_proj", 6), Map.of());
        PatchPass pass = new PatchPass(ModelFamily.bart());
        SplittableRandom rnd = new SplittableRandom(11);
        AdapterSource random = (p, r, scaling) -> new AdapterTensors(p.in(), p.out(), r, scaling,
                rnd.doubles(p.in() * r, -0.2, 0.2).toArray(), rnd.doubles(r * p.out(), -0.2, 0.2).toArray());
        ModelProto before = pass.apply(base, cfg, pass.plan(base, null, cfg), random).output();
        PassResult<GraphProto> r = new SiblingAdapterPass().apply(before.getGraph());
        String selfAttention = r.changed().stream().filter(s -> s.contains("encoder.layers.0.self_attn")).findFirst()
                .orElseThrow(() -> new AssertionError("no group for encoder layer 0: " + r.changed()));
        assertEquals(3, selfAttention.split("\\|").length, selfAttention);
        TensorProto ranks = r.output().getInitializerList().stream()
                .filter(t -> t.getName().contains("encoder.layers.0.self_attn") && t.getName().contains("lora_siblings/ranks"))
                .findFirst().orElseThrow();
        assertArrayEquals(new long[] {4, 6, 2}, org.onnxlora.io.Tensors.toLongs(ranks), "q, k, v widths in order");
        SameOutputs.assertWithin(before, before.toBuilder().setGraph(r.output()).build(), 2e-6, 2e-3);
    }

    /** In the compiled training graph each group's adapters get their weight gradient from one product. */
    @Test
    void theTrainingGraphHasOneWeightGradientProductPerGroup() {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript());
        GraphProto t = a.training().getGraph();
        long branches = a.adapters().size() / 2;
        long groups = t.getNodeList().stream().filter(n -> n.getName().contains("/lora_siblings/MatMul")
                && n.getOpType().equals("MatMul")).count();
        long forwardA = groups + aProducts(t);
        assertTrue(groups >= 3, "groups " + groups);
        assertTrue(forwardA < branches, forwardA + " A products for " + branches + " branches");
        // one weight-gradient Gemm reads each group's stacked output gradient, none reads a single sibling's
        long weightGradients = t.getNodeList().stream().filter(n -> n.getOpType().equals("Gemm")
                && n.getName().contains("/lora_siblings/")).count();
        assertEquals(groups, weightGradients, "weight-gradient products of the groups");
    }
}
