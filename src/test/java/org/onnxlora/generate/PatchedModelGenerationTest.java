package org.onnxlora.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.Progress;
import org.onnxlora.io.Overwrite;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.BranchMerger;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.Patcher;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/** Generation runs on what patch and merge write, for a single model and an Optimum folder alike. */
class PatchedModelGenerationTest {
    private static final RuntimeOptions OPTIONS = RuntimeOptions.defaults().withThreads(2);
    private static final LoraConfig CFG = new LoraConfig(4, 8, List.of("q_proj", "k_proj", "v_proj", "out_proj"),
            LoraConfig.Init.GAUSSIAN, 7);

    /** Non-zero A and B (as after training), the same for every file that holds a projection. */
    private static AdapterSource trained() {
        AdapterSource init = new AdapterInit(LoraConfig.Init.GAUSSIAN, 3);
        return (p, r, s) -> {
            AdapterTensors a = init.valuesFor(p, r, s);
            SplittableRandom rng = new SplittableRandom(p.modulePath().hashCode());
            double[] b = new double[a.b().length];
            for (int i = 0; i < b.length; i++) {
                b[i] = rng.nextGaussian() * 0.3;
            }
            return new AdapterTensors(a.in(), a.out(), r, s, a.a(), b);
        };
    }

    @Test
    void patchedAndMergedModelsGenerateAlikeOnBothPaths(@TempDir Path tmp) {
        Patcher patcher = new Patcher(ModelFamily.bart(), Progress.NONE);
        Path patchedFile = tmp.resolve("patched.onnx");
        Path patchedDir = tmp.resolve("patched-optimum");
        patcher.patch(Fixtures.torchscript(), patchedFile, CFG, trained(), Overwrite.REFUSE);
        patcher.patch(Fixtures.optimum(), patchedDir, CFG, trained(), Overwrite.REFUSE);
        Path mergedFile = tmp.resolve("merged.onnx");
        Path mergedDir = tmp.resolve("merged-optimum");
        new BranchMerger(Progress.NONE).merge(patchedFile, mergedFile, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);
        new BranchMerger(Progress.NONE).merge(patchedDir, mergedDir, org.onnxlora.lora.AdapterValues.none(), Overwrite.REFUSE);

        List<long[]> sources = new ArrayList<>(TestInputs.sources(4));
        sources.addAll(GeneratorTest.randomSources(4, 7));
        for (GenerationConfig c : List.of(GenerationConfig.DEFAULT.withMaxNewTokens(24),
                GenerationConfig.DEFAULT.withMaxNewTokens(24).withNumBeams(3))) {
            List<long[]> base = generate(Fixtures.optimum(), c, sources);
            List<long[]> reference = generate(patchedFile, c, sources);
            for (Path model : List.of(patchedDir, mergedFile, mergedDir)) {
                List<long[]> got = generate(model, c, sources);
                for (int i = 0; i < sources.size(); i++) {
                    assertArrayEquals(reference.get(i), got.get(i), model.getFileName() + ", example " + i);
                }
            }
            boolean changed = false;
            for (int i = 0; i < sources.size(); i++) {
                changed |= !Arrays.equals(base.get(i), reference.get(i));
            }
            assertTrue(changed, "the adapters should change some output, or this test proves nothing");
        }
    }

    private static List<long[]> generate(Path model, GenerationConfig c, List<long[]> sources) {
        try (Generator g = Generator.open(model, c, OPTIONS)) {
            return g.generate(sources);
        }
    }
}
