package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiConsumer;
import org.onnxlora.data.Batch;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterSource;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;

/**
 * Training steps of one compiled model under two session settings, compared to the bit: for settings that change
 * where or how ONNX Runtime computes (head copies, the memory pattern, IO binding) but not what. Every projection
 * is adapted with random factors, so each step trains every adapter; batches come in several shapes.
 */
final class BitwiseSteps {
    private BitwiseSteps() {}

    private static final LoraConfig RANDOM_CONFIG = new LoraConfig(4, 8, List.of("q_proj", "k_proj", "v_proj", "out_proj"),
            LoraConfig.Init.KAIMING, 0);

    /**
     * Every projection of {@code model} (an ONNX file, or an Optimum folder joined) adapted, with random factors
     * (B not zero), so each step trains every adapter.
     */
    static ModelProto patchedWithRandomAdapters(Path model) {
        if (java.nio.file.Files.isDirectory(model)) {
            // each file of the folder is patched on its own, as `train` does: the joined graph's encoder node
            // names no longer carry the module paths the patcher finds projections by
            AdapterSource perModule = (p, r, scaling) -> {
                SplittableRandom rnd = new SplittableRandom(7 + p.modulePath().hashCode());
                return new AdapterTensors(p.in(), p.out(), r, scaling, rnd.doubles(p.in() * r, -0.2, 0.2).toArray(),
                        rnd.doubles(r * p.out(), -0.2, 0.2).toArray());
            };
            return OptimumFolder.load(model, ModelFamily.bart()).patch(RANDOM_CONFIG, perModule).joined();
        }
        return patchedWithRandomAdapters(ModelIO.load(model));
    }

    /** {@link #patchedWithRandomAdapters(Path)} of a model already loaded (a joined Optimum folder, say). */
    static ModelProto patchedWithRandomAdapters(ModelProto base) {
        LoraConfig cfg = RANDOM_CONFIG;
        PatchPass pass = new PatchPass(ModelFamily.bart());
        SplittableRandom rnd = new SplittableRandom(7);
        AdapterSource random = (p, r, scaling) -> new AdapterTensors(p.in(), p.out(), r, scaling,
                rnd.doubles(p.in() * r, -0.2, 0.2).toArray(), rnd.doubles(r * p.out(), -0.2, 0.2).toArray());
        return pass.apply(base, cfg, pass.plan(base, null, cfg), random).output();
    }

    /**
     * {@link #patchedWithRandomAdapters} of {@code model} (an ONNX file, or an Optimum folder joined), compiled with
     * the default options.
     */
    static TrainingCompiler.Artifacts compiledWithRandomAdapters(Path model) {
        return new TrainingCompiler().compile(patchedWithRandomAdapters(model), TrainingCompiler.Options.defaults());
    }

    /** {@link #patchedWithRandomAdapters} of {@code model}, compiled with the default options into {@code dir}. */
    static Path compiledWithRandomAdapters(Path model, Path dir) {
        ArtifactStore.write(new TrainingCompiler().compile(patchedWithRandomAdapters(model),
                TrainingCompiler.Options.defaults()), TrainingCompiler.Options.defaults(), dir);
        return dir;
    }

    /** Batches of other shapes than the goldens', so the indices are computed from the lengths at run time. */
    static Batch randomBatch(int size, int source, int target, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] ids = new long[size * source];
        long[] mask = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = 4 + r.nextInt(200);
            mask[i] = i % source < source - (i / source) ? 1 : 0; // rows padded by their index
        }
        long[] dec = new long[size * target];
        long[] labels = new long[dec.length];
        for (int i = 0; i < dec.length; i++) {
            dec[i] = 4 + r.nextInt(200);
            labels[i] = i % target == target - 1 && i / target == 0 ? -100 : 4 + r.nextInt(200);
        }
        return new Batch(size, source, target, ids, mask, dec, labels);
    }

    static List<float[]> train(Path dir, RuntimeOptions o, List<Batch> batches) {
        return train(dir, o, batches, (s, i) -> { });
    }

    /**
     * Fused steps on {@code batches}, {@code between} called after each with the step's index: per step its loss
     * sum, tokens and gradient norm, then every adapter and both its moments.
     */
    static List<float[]> train(Path dir, RuntimeOptions o, List<Batch> batches,
            BiConsumer<TrainingSession, Integer> between) {
        List<float[]> out = new ArrayList<>();
        try (TrainingSession s = new TrainingSession(dir, o, TrainingSession.StepMode.FUSED)) {
            for (int i = 0; i < batches.size(); i++) {
                TrainingSession.Step st = s.step(batches.get(i), 0.01);
                out.add(new float[] {(float) st.pass().lossSum(), (float) st.pass().tokens(), (float) st.gradNorm()});
                between.accept(s, i);
            }
            for (AdapterSpec a : s.adapters()) {
                out.add(s.adapter(a.name()));
                out.add(s.expAvg(a.name()));
                out.add(s.expAvgSq(a.name()));
            }
        }
        return out;
    }

    /** {@code got} equals {@code want} to the bit, and each of the first {@code steps} records has gradients. */
    static void assertSameToTheBit(List<float[]> want, List<float[]> got, int steps) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), "step or state tensor " + i);
        }
        for (int k = 0; k < steps; k++) {
            assertTrue(want.get(k)[2] > 0, "step " + k + " has gradients: norm " + want.get(k)[2]);
        }
    }
}
