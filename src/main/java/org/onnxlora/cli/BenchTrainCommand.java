package org.onnxlora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.api.TrainingBenchmark;
import org.onnxlora.api.TrainingSetup;
import org.onnxlora.io.Json;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.ProcessStats;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.data.Batch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "bench-train", mixinStandardHelpOptions = true,
        description = {
            "Measure training-step throughput and memory on random full-length batches.",
            "",
            "Patches the model in memory when it is not patched yet, compiles it, runs warm-up steps, then times",
            "steps (forward + backward + AdamW). Prints one JSON object: tokens/s (source + target tokens per",
            "second, median step), step time, the share of step time spent outside OrtSession.run, time to the",
            "first step, and the process's peak RSS."},
        footer = {"", "Example:", "  onnx-lora bench-train --model model.onnx --batch 8 --source-length 64 --target-length 16 --threads 2"})
final class BenchTrainCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "Base or patched model.")
    Path model;

    @Mixin
    LoraOptions lora;

    @Option(names = "--batch", defaultValue = "8", description = "Batch size (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--source-length", defaultValue = "64", description = "Source tokens per example (default: ${DEFAULT-VALUE}).")
    int sourceLength;

    @Option(names = "--target-length", defaultValue = "16", description = "Target tokens per example (default: ${DEFAULT-VALUE}).")
    int targetLength;

    @Option(names = "--steps", defaultValue = "10", description = "Timed steps (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--warmup", defaultValue = "2", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads, 0 = one per core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--disable-prepacking", description = "Stop ORT from keeping packed copies of weights.")
    boolean disablePrepacking;

    @Option(names = "--no-arena", description = "Turn ORT's CPU memory arena off (lower peak memory, slower allocation).")
    boolean noArena;

    @Option(names = "--tf32", description = "Same as --precision tf32: TF32 for float32 matrix products on CUDA.")
    boolean tf32;

    @Mixin
    GpuMemoryOptions gpuMemory;

    @Option(names = "--ort-verbose", description = "Log at ONNX Runtime's VERBOSE level to stderr (shows each node's execution provider).")
    boolean ortVerbose;

    @Option(names = "--profile", paramLabel = "PREFIX",
            description = "Write ONNX Runtime profiles (PREFIX_step_<time>.json: forward, backward and AdamW in one graph;"
                    + " with --separate-step PREFIX_training_<time>.json and PREFIX_optimizer_<time>.json).")
    Path profile;

    @Option(names = "--separate-step", description = "Run each step as train does with gradient accumulation: the"
            + " training and optimizer graphs in two sessions (default: one graph, one session, as train runs one batch"
            + " per step).")
    boolean separateStep;

    @Option(names = "--static-shapes", description = "Open the sessions with the batch and sequence dims fixed at"
            + " --batch, --source-length and --target-length (ONNX Runtime's free-dimension overrides), so that its"
            + " optimizer folds the graph's shape arithmetic: what a run padded to one shape could use. With"
            + " --cuda-graph: the graph replayed with every dim fixed.")
    boolean staticShapes;

    @Mixin
    CompileCommand.TrainingOptions training;

    @Override
    int execute() throws IOException {
        checkOptions();
        org.onnxlora.runtime.Sessions.requireDevice(gpuMemory.apply(RuntimeOptions.defaults()).withDevice(Device.parse(device)));
        training.precision(tf32).requireRunnableOn(Device.parse(device));
        training.precision(tf32).noteOn(Device.parse(device)).ifPresent(n -> output.info("%s", n));
        long t0 = System.nanoTime();
        Path dir = Files.createTempDirectory("onnx-lora-bench");
        Prepared prep = prepare(dir);
        // The source model's mapping is unreachable now; collect it so its pages leave the RSS
        // before the sessions map the artifacts.
        System.gc();
        long vocab = prep.vocab();
        int adapters = prep.adapters();
        long modelBytes = prep.modelBytes();
        double compileSeconds = (System.nanoTime() - t0) / 1e9;
        output.detail("after compile: %s", memory());
        RuntimeOptions ro = gpuMemory.apply(RuntimeOptions.defaults()).withThreads(threads).withDevice(Device.parse(device))
                .withDisablePrepacking(disablePrepacking).withCpuArena(!noArena)
                .withAllowTf32(training.precision(tf32) == org.onnxlora.train.Precision.TF32)
                .withVerboseLog(ortVerbose).withProfilePrefix(profile);
        Map<String, String> fixedDims = Map.of();
        if (staticShapes) {
            Map<String, String> merged = new TreeMap<>(ro.cudaOptions());
            fixedDims = TrainingBenchmark.fixedDims(dir, batch, sourceLength, targetLength);
            merged.putAll(fixedDims);
            ro = ro.withCudaOptions(merged);
        }
        SplittableRandom rng = new SplittableRandom(0);
        double[] firstStep = {0};
        long tokensPerStep = (long) batch * (sourceLength + targetLength);
        TrainingBenchmark.Result r;
        try {
            r = TrainingBenchmark.measure(dir, ro, separateStep, warmup, steps, 1e-4,
                    () -> randomBatch(rng, vocab, prep.decoderStart()),
                    new TrainingBenchmark.Listener() {
                        @Override
                        public void opened() {
                            output.detail("sessions open: %s", memory());
                        }

                        @Override
                        public void stepDone(int i, long wall) {
                            if (i == 0) {
                                firstStep[0] = (System.nanoTime() - t0) / 1e9;
                                output.detail("first step: %s", memory());
                            }
                            output.info("step %d/%d: %.1f ms", i + 1, warmup + steps, wall / 1e6);
                        }
                    });
        } finally {
            org.onnxlora.io.FileTrees.delete(dir);
        }
        double[] stepMs = r.stepMs();
        double[] outsideShare = r.outsideOrtShare();
        List<Path> profiles = r.profiles();
        long[] skippedSteps = {r.skippedSteps()};
        double median = median(stepMs);
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("model", model.toString());
        o.put("model_weight_bytes", modelBytes);
        o.put("adapters", adapters);
        o.put("device", device);
        o.put("threads", threads);
        o.put("precision", training.precision(tf32).label());
        if (Device.parse(device).kind() == Device.Kind.CUDA) {
            o.put("gpu_memory", ro.gpuMemory().on(ro.device()).label());
            o.put("cuda_options", ro.effectiveCudaOptions());
            o.put("session_options", ro.sessionConfigEntries());
        }
        ro.memoryPattern().ifPresent(p -> o.put("memory_pattern", p));
        o.put("recompute", training.compilerOptions(ModelFamily.bart()).recompute().label());
        o.put("step_graphs", separateStep ? "separate" : "fused");
        o.put("io_binding", ro.ioBinding());
        o.put("cuda_graph", ro.cudaGraph());
        o.put("fused_kernels", org.onnxlora.runtime.FusedKernels.inUse(ro));
        if (staticShapes) {
            o.put("fixed_dims", fixedDims);
        }
        o.put("batch", batch);
        o.put("source_length", sourceLength);
        o.put("target_length", targetLength);
        o.put("tokens_per_step", tokensPerStep);
        o.put("step_ms_median", round(median));
        o.put("step_ms_all", Arrays.stream(stepMs).map(BenchTrainCommand::round).toArray());
        o.put("tokens_per_second", round(tokensPerStep / (median / 1000)));
        o.put("outside_ort_run_share", round(median(outsideShare)));
        if (skippedSteps[0] >= 0) {
            o.put("skipped_steps", skippedSteps[0]);
        }
        o.put("compile_seconds", round(compileSeconds));
        o.put("time_to_first_step_seconds", round(firstStep[0]));
        o.put("peak_rss_bytes", ProcessStats.peakRssBytes());
        o.put("peak_rss_over_model", round((double) ProcessStats.peakRssBytes() / modelBytes));
        if (!profiles.isEmpty()) {
            o.put("profiles", profiles.stream().map(Path::toString).toList());
        }
        output.result("%s", Json.builder().setPrettyPrinting().create().toJson(o));
        return 0;
    }

    /** Refuses a bad flag before the model is read. */
    private void checkOptions() {
        if (gpuMemory.cudaGraph && Device.parse(device).kind() != Device.Kind.CUDA) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--cuda-graph needs --device cuda (CUDA graphs are a"
                    + " CUDA feature; --cuda-option io_binding=1 binds a CPU session)");
        }
        if (gpuMemory.cudaGraph && separateStep) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--cuda-graph captures the fused step; it cannot be"
                    + " combined with --separate-step");
        }
        Flags.atLeast("--batch", batch, 1);
        Flags.atLeast("--source-length", sourceLength, 1);
        Flags.atLeast("--target-length", targetLength, 1);
        Flags.atLeast("--steps", steps, 1);
        Flags.atLeast("--warmup", warmup, 0);
        lora.config(LoraConfig.Init.KAIMING, 0, false);
        training.compilerOptions(ModelFamily.bart());
        RuntimeOptions.defaults().withThreads(threads);
    }

    private record Prepared(long vocab, int adapters, long modelBytes, long decoderStart) {}

    /** Loads, patches if needed, compiles and writes the artifacts; nothing of the source outlives it. */
    private Prepared prepare(Path dir) {
        ModelFamily family = ModelFamily.bart();
        ModelProto m = ModelIO.load(model);
        long modelBytes = ModelIO.weightBytes(m);
        Seq2SeqSignature sig = Seq2SeqSignature.of(m, model, family, java.util.Set.of(), training.logits(family));
        sig.checkMaxLengths(sourceLength, targetLength, "--source-length", "--target-length");
        sig.checkFitsStatic(sourceLength, targetLength, "--source-length", "--target-length");
        long found = sig.vocab();
        long vocab = found > 5 ? found : 1000; // ids 0..4 are BART's special tokens
        m = TrainingSetup.patchedOrPatch(m, family, lora.config(LoraConfig.Init.KAIMING, 0, false));
        TrainingSetup.Compiled c = TrainingSetup.compile(m, training.compilerOptions(family), dir);
        return new Prepared(vocab, c.adapters(), modelBytes, sig.decoderStartTokenId());
    }

    private static String mb(long bytes) {
        return (bytes >> 20) + " MB";
    }

    private static String memory() {
        return String.format(java.util.Locale.ROOT, "rss %s (anonymous %s, file-backed %s), peak %s",
                mb(ProcessStats.rssBytes()), mb(ProcessStats.rssAnonBytes()), mb(ProcessStats.rssFileBytes()),
                mb(ProcessStats.peakRssBytes()));
    }

    private Batch randomBatch(SplittableRandom rng, long vocab, long decoderStart) {
        long[] src = new long[batch * sourceLength];
        long[] mask = new long[src.length];
        long[] dec = new long[batch * targetLength];
        long[] labels = new long[dec.length];
        for (int i = 0; i < src.length; i++) {
            src[i] = 5 + rng.nextLong(vocab - 5);
            mask[i] = 1;
        }
        for (int r = 0; r < batch; r++) {
            for (int t = 0; t < targetLength; t++) {
                labels[r * targetLength + t] = 5 + rng.nextLong(vocab - 5);
                dec[r * targetLength + t] = t == 0 ? decoderStart : labels[r * targetLength + t - 1];
            }
        }
        return new Batch(batch, sourceLength, targetLength, src, mask, dec, labels);
    }

    static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c.length == 0 ? 0 : c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }

    static double round(double v) {
        return Math.round(v * 1000) / 1000.0;
    }

}
