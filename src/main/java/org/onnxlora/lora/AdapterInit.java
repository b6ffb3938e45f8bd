package org.onnxlora.lora;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;

/**
 * PEFT's initialisations: A random, B zero, so a freshly patched model computes
 * exactly what the base model does. Each module draws from its own stream, seeded
 * by the run's seed and the module path: every file of an Optimum export, and every
 * re-run with the same seed, gets the same A.
 */
public final class AdapterInit implements AdapterSource {
    private final LoraConfig.Init init;
    private final long seed;

    public AdapterInit(LoraConfig.Init init, long seed) {
        this.init = init;
        this.seed = seed;
    }

    @Override
    public AdapterTensors valuesFor(Projection p, int rank, double scaling) {
        int in = AdapterTensors.factorSize(p.modulePath(), p.in(), rank) / rank;
        int outSize = AdapterTensors.factorSize(p.modulePath(), p.out(), rank);
        SplittableRandom rng = streamFor(seed, p.modulePath());
        double[] a = new double[in * rank];
        if (init == LoraConfig.Init.KAIMING) {
            // kaiming_uniform_(a=sqrt(5)) on PEFT's [r, in] weight: bound = sqrt(6 / ((1 + 5) * in)) = 1/sqrt(in)
            double bound = 1.0 / Math.sqrt(in);
            for (int i = 0; i < a.length; i++) {
                a[i] = rng.nextDouble(-bound, bound);
            }
        } else {
            double std = 1.0 / rank;
            for (int i = 0; i < a.length; i++) {
                a[i] = rng.nextGaussian() * std;
            }
        }
        return new AdapterTensors(p.in(), p.out(), rank, scaling, a, new double[outSize]);
    }

    static SplittableRandom streamFor(long seed, String modulePath) {
        long h = 0xcbf29ce484222325L; // FNV-1a: stable across JVMs, unlike String.hashCode mixing
        for (byte b : modulePath.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ h);
    }
}
