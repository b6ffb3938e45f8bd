package org.onnxlora.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.Progress;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Overwrite;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;

/** patch and merge on the real exports, proven by running them in ONNX Runtime. */
public class PatchMergeFixtureTest {
    static final List<String> ALL = List.of("q_proj", "k_proj", "v_proj", "out_proj");
    static final LoraConfig CFG = new LoraConfig(4, 8, ALL, LoraConfig.Init.KAIMING, 7);
    final Verifier verifier = new Verifier(RuntimeOptions.defaults().withOptimize(false));

    @TempDir
    Path tmp;


    /** Non-zero A and B, as after training: test-only. */
    public static AdapterSource nonZero() {
        AdapterSource init = new AdapterInit(LoraConfig.Init.GAUSSIAN, 3);
        return (p, r, s) -> {
            AdapterTensors a = init.valuesFor(p, r, s);
            SplittableRandom rng = new SplittableRandom(p.modulePath().length() * 31L + p.in());
            double[] b = new double[a.b().length];
            for (int i = 0; i < b.length; i++) {
                b[i] = rng.nextGaussian() * 0.1;
            }
            return new AdapterTensors(a.in(), a.out(), r, s, a.a(), b);
        };
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void findsFourProjectionsPerAttentionBlock(Path model) {
        Discovery d = new ProjectionFinder(ModelFamily.bart()).find(ModelIO.load(model), null);
        // 2 encoder layers (self) + 2 decoder layers (self + cross): 4 x (2 + 2*2)
        assertEquals(24, d.projections().size());
        assertEquals(4 * 2, d.projections().stream().filter(p -> p.role().equals("encoder-self-attention")).count());
        assertEquals(4 * 2, d.projections().stream().filter(p -> p.role().equals("decoder-cross-attention")).count());
        assertTrue(d.projections().stream().allMatch(p -> p.bias() != null && p.in() == 64 && p.out() == 64));
        assertTrue(d.projections().stream().anyMatch(p -> p.modulePath().equals("model.decoder.layers.1.encoder_attn.out_proj")));
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void patchedWithZeroBEqualsBase(Path model) throws IOException {
        Path patched = tmp.resolve("patched.onnx");
        byte[] before = Files.readAllBytes(model);
        new Patcher(ModelFamily.bart(), Progress.NONE).patch(model, patched, CFG,
                new AdapterInit(CFG.init(), CFG.seed()), Overwrite.REFUSE);
        Verifier.Report r = verifier.compare(model, patched, 3, 11);
        assertTrue(r.maxAbs() <= 1e-6, "patched differs from base by " + r.maxAbs());
        assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(model)), "input was modified");
        ModelProto p = ModelIO.load(patched);
        LoraMetadata.Info info = LoraMetadata.read(p).orElseThrow();
        assertEquals(24, info.modules().size());
        assertEquals(48, info.trainable().size());
        assertEquals(ModelIO.load(model).getGraph().getNodeCount() + 4 * 24, p.getGraph().getNodeCount());
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void mergedEqualsPatchedAndLooksLikeBase(Path model) {
        Path patched = tmp.resolve("patched.onnx");
        Path merged = tmp.resolve("merged.onnx");
        new Patcher(ModelFamily.bart(), Progress.NONE).patch(model, patched, CFG, nonZero(), Overwrite.REFUSE);
        new BranchMerger(Progress.NONE).merge(patched, merged, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);
        Verifier.Report fold = verifier.compare(patched, merged, 3, 12);
        assertTrue(fold.maxAbs() <= 1e-4, "merged differs from patched by " + fold.maxAbs());
        Verifier.Report moved = verifier.compare(model, merged, 1, 13);
        assertTrue(moved.maxAbs() > 1e-2, "adapters should change the model: " + moved.maxAbs());

        ModelProto base = ModelIO.load(model);
        ModelProto w = ModelIO.load(merged);
        assertEquals(histogram(base), histogram(w));
        assertEquals(base.getGraph().getNodeCount(), w.getGraph().getNodeCount());
        assertEquals(base.getGraph().getInputList(), w.getGraph().getInputList());
        assertEquals(base.getGraph().getOutputList(), w.getGraph().getOutputList());
        assertEquals(base.getGraph().getInitializerCount(), w.getGraph().getInitializerCount());
        assertTrue(LoraMetadata.read(w).isEmpty());
    }

    @Test
    void optimumFolderGetsTheSameAdaptersInEveryFile() throws IOException {
        Path out = tmp.resolve("optimum-lora");
        Patcher.Report rep = new Patcher(ModelFamily.bart(), Progress.NONE).patch(Fixtures.optimum(), out, CFG,
                new AdapterInit(CFG.init(), CFG.seed()), Overwrite.REFUSE);
        // encoder 8 + decoder 16 + decoder_with_past 12 (cross-attention k/v come from the cache there)
        assertEquals(8 + 16 + 12, rep.patchedCount());
        for (String f : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            Verifier.Report r = verifier.compare(Fixtures.optimum().resolve(f), out.resolve(f), 2, 5);
            assertTrue(r.maxAbs() <= 1e-6, f + " differs by " + r.maxAbs());
        }
        var dec = new org.onnxlora.graph.GraphIndex(ModelIO.load(out.resolve("decoder_model.onnx")).getGraph());
        var past = new org.onnxlora.graph.GraphIndex(ModelIO.load(out.resolve("decoder_with_past_model.onnx")).getGraph());
        String a = "model.decoder.layers.1.self_attn.q_proj.lora_A";
        assertEquals(dec.initializer(a), past.initializer(a));

        Path trained = tmp.resolve("optimum-trained");
        new Patcher(ModelFamily.bart(), Progress.NONE).patch(Fixtures.optimum(), trained, CFG, nonZero(), Overwrite.REFUSE);
        Path merged = tmp.resolve("optimum-merged");
        new BranchMerger(Progress.NONE).merge(trained, merged, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);
        for (String f : List.of("encoder_model.onnx", "decoder_model.onnx", "decoder_with_past_model.onnx")) {
            Verifier.Report r = verifier.compare(trained.resolve(f), merged.resolve(f), 2, 6);
            assertTrue(r.maxAbs() <= 1e-4, f + " merged differs by " + r.maxAbs());
        }
    }

    static Map<String, Integer> histogram(ModelProto m) {
        Map<String, Integer> h = new TreeMap<>();
        for (NodeProto n : m.getGraph().getNodeList()) {
            h.merge(n.getDomain() + ":" + n.getOpType(), 1, Integer::sum);
        }
        return h;
    }
}
