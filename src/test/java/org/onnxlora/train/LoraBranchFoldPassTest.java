package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.lora.LoraBranch;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/**
 * Every export's LoRA branches fold (the scale into the B product's alpha, the bias onto the frozen product) with
 * the same outputs in ONNX Runtime before and after, and ONNX Runtime then fuses each targeted projection's bias
 * into its product, which it could not do behind the branch's Add.
 */
class LoraBranchFoldPassTest {

    static ModelProto patched(Path model) {
        return BitwiseSteps.patchedWithRandomAdapters(model);
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.train.ReplayHazardsTest#exports")
    void everyBranchFoldsWithTheSameOutputs(Path model) {
        ModelProto before = patched(model);
        List<LoraBranch> branches = BranchFinder.find(before.getGraph());
        assertTrue(branches.size() >= 4, "the export has " + branches.size() + " branches");
        PassResult<GraphProto> r = new LoraBranchFoldPass().apply(before.getGraph());
        assertEquals(branches.size(), r.changed().size(), "every branch folds");
        GraphIndex g = new GraphIndex(r.output());
        for (LoraBranch b : branches) {
            assertEquals(List.of(), g.consumersOf(b.scaling()).stream().map(i -> g.node(i).getName()).toList(),
                    "no Mul by " + b.scaling() + " is left");
        }
        // the bias is now added before the branch: a reassociated sum, not a different value
        SameOutputs.assertWithin(before, before.toBuilder().setGraph(r.output()).build(), 2e-6, 2e-3);
    }

    @Test
    void aScaleThatIsAlsoAGraphInputIsKept() {
        ModelProto before = patched(Fixtures.torchscript());
        LoraBranch first = BranchFinder.find(before.getGraph()).get(0);
        GraphProto overridable = before.getGraph().toBuilder()
                .addInput(Graphs.tensorValue(first.scaling(),
                        org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT_VALUE, new long[0]))
                .build();
        PassResult<GraphProto> r = new LoraBranchFoldPass().apply(overridable);
        assertEquals(BranchFinder.find(before.getGraph()).size() - 1, r.changed().size());
        GraphIndex g = new GraphIndex(r.output());
        assertEquals(1, g.consumersOf(first.scaling()).size(), "the overridable scale is still a Mul's input");
    }

    @Test
    void theFoldedProductsCarryTheScale() {
        ModelProto before = patched(Fixtures.torchscript());
        double scale = 8.0 / 4; // BitwiseSteps: r = 4, alpha = 8
        GraphProto folded = new LoraBranchFoldPass().apply(before.getGraph()).output();
        long products = folded.getNodeList().stream()
                .filter(n -> n.getOpType().equals("FusedMatMul") && n.getInput(1).endsWith(".lora_B"))
                .peek(n -> assertEquals(scale, Attrs.getFloat(n, "alpha", 1f), 0, n.getName()))
                .count();
        assertEquals(BranchFinder.find(before.getGraph()).size(), products);
    }

    /**
     * ONNX Runtime's own fusion now takes the bias into the product: no bias Add of a targeted projection is left.
     * It fuses only where it knows the shapes (here the dims are fixed, as bench-train's --static-shapes does).
     */
    @Test
    void onnxRuntimeFusesTheTargetedProjectionsBias(@TempDir Path dir) throws Exception {
        ModelProto before = patched(Fixtures.torchscript());
        List<String> biases = BranchFinder.find(before.getGraph()).stream().map(LoraBranch::modulePath)
                .map(p -> p + ".bias").toList();
        ModelProto after = before.toBuilder()
                .setGraph(new LoraBranchFoldPass().apply(before.getGraph()).output()).build();
        assertEquals(biases.size(), biasAdds(before, biases, dir.resolve("before")), "the patch keeps the bias Adds");
        assertEquals(0, biasAdds(after, biases, dir.resolve("after")), "every targeted bias is fused into its product");
    }

    /**
     * The folded B product is a FusedMatMul; its weight gradient must still be one Gemm over the batch folded into
     * rows, not a batched product and a ReduceSum over the batch (what the general FusedMatMul rule writes).
     */
    @Test
    void eachBGradientIsOneGemm() {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(Fixtures.torchscript());
        GraphIndex g = new GraphIndex(a.training().getGraph());
        List<String> bs = a.adapters().stream().map(AdapterSpec::name).filter(n -> n.endsWith(".lora_B")).toList();
        assertTrue(bs.size() >= 4, bs.toString());
        for (String b : bs) {
            int producer = g.producerOf("grad." + b);
            while (producer >= 0 && g.node(producer).getOpType().equals("Identity")) { // the output's name
                producer = g.producerOf(g.node(producer).getInput(0));
            }
            assertTrue(producer >= 0, "grad." + b + " is produced in the training graph");
            assertEquals("Gemm", g.node(producer).getOpType(), "grad." + b + " comes from " + g.node(producer).getName());
        }
        assertEquals(0, a.training().getGraph().getNodeList().stream()
                .filter(n -> n.getOpType().equals("ReduceSum") && n.getName().contains("lora")).count(),
                "no ReduceSum sums a LoRA gradient over the batch");
    }

    /** Adds reading one of {@code biases} in the graph ONNX Runtime optimizes {@code m} into, on the CPU. */
    private static long biasAdds(ModelProto m, List<String> biases, Path dir) throws Exception {
        Files.createDirectories(dir);
        Path model = dir.resolve("m.onnx");
        Path optimized = dir.resolve("optimized.onnx");
        ModelIO.save(m, model);
        try (var s = Sessions.create(model, RuntimeOptions.defaults().withOptimizedModelPath(optimized)
                .withCudaOptions(java.util.Map.of("dim.batch_size", "2", "dim.encoder_sequence_length", "6",
                        "dim.decoder_sequence_length", "3")))) {
            // opening it is enough: ORT writes the optimized graph while it loads the model
        }
        GraphProto g = ModelIO.load(optimized).getGraph();
        return g.getNodeList().stream().filter(n -> n.getOpType().equals("Add"))
                .filter(n -> n.getInputList().stream().anyMatch(biases::contains)).count();
    }
}
