package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.runtime.FusedKernels;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * The GELU backward and the LayerNorm input gradient as one kernel node each: every one the compiler emits is
 * found on both exporters (the GELU's ½ folded into the next product or not), on the CUDA form of the graphs and
 * on the CPU's (LayerNorm decomposed first), and training steps with the kernels are the stock-op steps to
 * float32 rounding.
 */
class FusedKernelPassesTest {

    private static long count(GraphProto g, String domain, String op) {
        return g.getNodeList().stream().filter(n -> n.getOpType().equals(op) && n.getDomain().equals(domain)).count();
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void everyGeluBackwardBecomesOneNode(Path model) {
        GraphProto t = BitwiseSteps.compiledWithRandomAdapters(model).training().getGraph();
        long gelus = count(t, "com.microsoft", "Gelu");
        // only layers above the lowest adapter have a GELU backward; the tiny fixtures have 2+2 layers
        assertTrue(gelus >= 4, gelus + " GELUs");
        PassResult<GraphProto> r = new GeluGradKernelPass().apply(t);
        assertTrue(r.refused().isEmpty(), r.summary());
        long fused = count(r.output(), FusedKernels.DOMAIN, "GeluGrad");
        assertEquals(r.changed().size(), fused);
        assertEquals(count(t, "", "Erf"), fused, "every Erf of the training graph is a GELU backward's");
        assertEquals(0, count(r.output(), "", "Erf"));
        assertTrue(fused >= gelus - 1, fused + " kernels for " + gelus + " GELUs"); // the first layer's needs none
        assertTrue(t.getNodeCount() - r.output().getNodeCount() >= 8 * fused, "eight or more nodes gone per kernel");
        for (NodeProto n : r.output().getNodeList()) {
            if (n.getOpType().equals("GeluGrad")) {
                float alpha = n.getAttribute(0).getF();
                assertTrue(alpha == 1f || alpha == 2f, "alpha " + alpha);
            }
        }
        assertTrue(new GeluGradKernelPass().apply(r.output()).changed().isEmpty(), "a second run finds nothing");
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void everyLayerNormInputGradientBecomesOneNode(Path model) {
        GraphProto t = BitwiseSteps.compiledWithRandomAdapters(model).training().getGraph();
        long norms = count(t, "", "LayerNormalization");
        for (GraphProto graph : List.of(t, new LayerNormDecompositionPass().apply(t).output())) {
            PassResult<GraphProto> r = new LayerNormGradKernelPass().apply(graph);
            assertTrue(r.refused().isEmpty(), r.summary());
            long fused = count(r.output(), FusedKernels.DOMAIN, "LayerNormInputGrad");
            // the norms below the lowest adapter (the embeddings') have no backward
            assertTrue(fused >= norms - 2 && fused > 0, fused + " kernels for " + norms + " norms");
            assertEquals(graph.getNodeCount() - 10 * fused, r.output().getNodeCount(), "eleven nodes become one");
            assertTrue(new LayerNormGradKernelPass().apply(r.output()).changed().isEmpty());
        }
    }

    /** A chain with a reader outside it is left alone, with the reason; the others still fuse. */
    @Test
    void aChainReadElsewhereIsRefusedNotBroken() {
        GraphProto t = BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript()).training().getGraph();
        NodeProto erf = t.getNodeList().stream().filter(n -> n.getOpType().equals("Erf")).findFirst().orElseThrow();
        GraphProto extra = t.toBuilder().addNode(NodeProto.newBuilder().setOpType("Identity").setName("spy")
                .addInput(erf.getInput(0)).addOutput("spy_out")).build();
        PassResult<GraphProto> r = new GeluGradKernelPass().apply(extra);
        assertEquals(1, r.refused().size(), r.summary());
        assertTrue(r.refused().get(0).reason().contains("reader outside"), r.summary());
        assertEquals(count(t, "", "Erf") - 1, r.changed().size());
        assertEquals(1, count(r.output(), "", "Erf"), "the refused chain keeps its nodes");
    }

    /**
     * Both devices run both kernels, after every rewrite of the backward's patterns (they match it as emitted); only
     * the CPU's gradient sums, which the kernels' patterns read, are rewritten after them.
     */
    @Test
    void bothDevicesGetBothKernelsAfterEveryPatternRewrite() {
        List<String> cuda = new DeviceGraphs.Rewrites(false, false, true).passes().stream()
                .map(org.onnxlora.graph.GraphPass::name).toList();
        List<String> cpu = new DeviceGraphs.Rewrites(true, true, true).passes().stream()
                .map(org.onnxlora.graph.GraphPass::name).toList();
        List<String> kernels = List.of("gelu-grad-kernel", "layernorm-grad-kernel");
        assertEquals(kernels, cuda);
        assertEquals(List.of("gelu-grad-kernel", "layernorm-grad-kernel", "sum-as-adds"), cpu.subList(cpu.size() - 3,
                cpu.size()), cpu.toString());
    }

    /**
     * With the kernels and without: the same gradient at each of three states (within 1e-5 of its norm), and the same
     * three fused steps (loss, tokens and gradient norm within 1e-5). The adapters after the steps are not compared:
     * AdamW moves an element whose gradient is near its epsilon by about lr·g/(|g|+ε), which turns a rounding
     * difference in that one element into one of order lr, whatever computed it.
     */
    @Test
    void stepsWithTheKernelAreTheStockSteps(@TempDir Path dir) {
        assertTrue(FusedKernels.library(org.onnxlora.runtime.Device.Kind.CPU).isPresent());
        BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript(), dir);
        GraphProto rewritten = DeviceGraphs.rewritten(dir.resolve(ArtifactStore.TRAINING),
                new DeviceGraphs.Rewrites(true, true, true)).getGraph();
        assertTrue(count(rewritten, FusedKernels.DOMAIN, "GeluGrad") > 0, "the CPU session's graph has GELU kernels");
        assertTrue(count(rewritten, FusedKernels.DOMAIN, "LayerNormInputGrad") > 0, "and LayerNorm kernels");
        List<org.onnxlora.data.Batch> batches = List.of(BitwiseSteps.randomBatch(3, 9, 6, 1),
                BitwiseSteps.randomBatch(2, 11, 5, 2), BitwiseSteps.randomBatch(3, 7, 7, 3));
        RuntimeOptions on = RuntimeOptions.defaults().withThreads(2);
        RuntimeOptions off = on.withCudaOptions(Map.of(RuntimeOptions.FUSED_KERNELS, "0"));
        List<float[]> gradsWith = new java.util.ArrayList<>();
        List<float[]> gradsWithout = new java.util.ArrayList<>();
        List<float[]> with = BitwiseSteps.train(dir, on, batches);
        List<float[]> without = BitwiseSteps.train(dir, off, batches);
        // each step's gradient, from the state the kernel session reached (both sessions are given it)
        try (TrainingSession a = new TrainingSession(dir, on); TrainingSession b = new TrainingSession(dir, off)) {
            for (org.onnxlora.data.Batch batch : batches) {
                a.forwardBackward(batch);
                b.forwardBackward(batch);
                gradsWith.add(a.accumulatedGradients());
                gradsWithout.add(b.accumulatedGradients());
                a.applyUpdate(0.01);
                b.applyUpdate(0.01); // which also clears its gradient
                b.setAdapterValues(a.adapterValues());
            }
        }
        double worst = 0;
        for (int i = 0; i < batches.size(); i++) {
            worst = Math.max(worst, relative(gradsWith.get(i), gradsWithout.get(i)));
            worst = Math.max(worst, relative(with.get(i), without.get(i)));
        }
        assertTrue(worst < 1e-5, "worst relative difference " + worst);
        assertTrue(with.get(0)[2] > 0, "the first step has gradients");
    }

    private static double relative(float[] a, float[] b) {
        assertEquals(b.length, a.length);
        double num = 0;
        double den = 0;
        for (int k = 0; k < a.length; k++) {
            num += (double) (a[k] - b[k]) * (a[k] - b[k]);
            den += (double) b[k] * b[k];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }
}
