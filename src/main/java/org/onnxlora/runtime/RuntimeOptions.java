package org.onnxlora.runtime;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * How ONNX Runtime sessions are configured.
 *
 * @param device CPU or a CUDA device
 * @param threads intra-op threads (0 = ORT's default: one per core)
 * @param optimize graph optimizations on (ALL) or off (for parity checks)
 * @param disablePrepacking stop each consumer of a weight from keeping its own packed copy
 * @param optimizedModelPath where ORT should write the optimized graph (null = nowhere)
 * @param allowTf32 let CUDA use TF32 for float32 matrix products (faster, ~1e-3 relative error)
 * @param cpuArena let ORT pool CPU memory in its arena (faster allocation, but the pool never shrinks)
 * @param verboseLog log at ORT's VERBOSE level (node placements per execution provider, memcpy nodes)
 * @param profilePrefix write an ORT profile (JSON, per-node times) starting with this path (null = none)
 * @param cudaOptions extra CUDA provider options ({@code arena_extend_strategy}, {@code gpu_mem_limit}, ...),
 *     applied after onnx-lora's own; {@code session.*} keys are session configuration entries and
 *     {@code enable_mem_pattern} the memory-pattern switch, for any device; {@code head_copies} chooses how
 *     CPU sessions copy attention heads ({@link #HEAD_COPIES}); {@code dim.NAME} fixes a symbolic dim
 *     ({@link #DIM_PREFIX})
 * @param gpuMemory a named set of those settings ({@link GpuMemory}; null = {@link GpuMemory#AUTO}, the device's
 *     default), overridden key by key by {@code cudaOptions}
 */
public record RuntimeOptions(Device device, int threads, boolean optimize, boolean disablePrepacking,
        Path optimizedModelPath, boolean allowTf32, boolean cpuArena, boolean verboseLog, Path profilePrefix,
        Map<String, String> cudaOptions, GpuMemory gpuMemory) {

    public RuntimeOptions {
        if (threads < 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.THREADS, "the thread count must be >= 0 (0 = one per core), got "
                    + threads);
        }
        cudaOptions = Map.copyOf(cudaOptions == null ? Map.of() : cudaOptions);
        gpuMemory = gpuMemory == null ? GpuMemory.AUTO : gpuMemory;
    }

    /** With the device's default GPU memory setting ({@link GpuMemory#AUTO}). */
    public RuntimeOptions(Device device, int threads, boolean optimize, boolean disablePrepacking,
            Path optimizedModelPath, boolean allowTf32, boolean cpuArena, boolean verboseLog, Path profilePrefix,
            Map<String, String> cudaOptions) {
        this(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog,
                profilePrefix, cudaOptions, GpuMemory.AUTO);
    }

    public static RuntimeOptions defaults() {
        return new RuntimeOptions(Device.CPU, 0, true, false, null, false, true, false, null, Map.of());
    }

    public RuntimeOptions withThreads(int v) {
        return new RuntimeOptions(device, v, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withDevice(Device v) {
        return new RuntimeOptions(v, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withOptimize(boolean v) {
        return new RuntimeOptions(device, threads, v, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withOptimizedModelPath(Path v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, v, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withDisablePrepacking(boolean v) {
        return new RuntimeOptions(device, threads, optimize, v, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withAllowTf32(boolean v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, v, cpuArena, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withCpuArena(boolean v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, v, verboseLog, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withVerboseLog(boolean v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, v, profilePrefix, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withProfilePrefix(Path v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, v, cudaOptions, gpuMemory);
    }

    public RuntimeOptions withCudaOptions(Map<String, String> v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, v, gpuMemory);
    }

    /** The GPU memory preset; {@link #cudaOptions} given by key override its settings. */
    public RuntimeOptions withGpuMemory(GpuMemory v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena, verboseLog, profilePrefix, cudaOptions, v);
    }

    /** The preset's settings on this device ({@link GpuMemory#settingsOn}), then {@link #cudaOptions} (which win). */
    public Map<String, String> settings() {
        Map<String, String> m = new TreeMap<>(gpuMemory.settingsOn(device));
        m.putAll(cudaOptions);
        return m;
    }

    /**
     * Refuses settings that would do nothing on this device: on the CPU a GPU memory preset and CUDA provider
     * options (session entries and the memory pattern apply to every device).
     */
    public void requireApplicable() {
        symbolicDims();
        ioBinding();
        fusedKernels();
        interOpThreads();
        String copies = settings().get(HEAD_COPIES);
        if (copies != null && !copies.equals(GATHER) && !copies.equals(TRANSPOSE)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, HEAD_COPIES + " must be "
                    + GATHER + " or " + TRANSPOSE + ", not '" + copies + "'");
        }
        if (device.kind() == Device.Kind.CUDA) {
            for (String cpuOnly : new String[] {HEAD_COPIES, INTER_OP_THREADS}) {
                if (settings().containsKey(cpuOnly)) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "'" + cpuOnly
                            + "' applies to CPU sessions; this session runs on " + device);
                }
            }
            return;
        }
        if (gpuMemory == GpuMemory.LEAN) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.GPU_MEMORY, "the GPU memory setting '"
                    + gpuMemory.label() + "' applies to CUDA devices; this session runs on " + device);
        }
        if ("1".equals(cudaOptions.get(CUDA_GRAPH))) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "CUDA graphs (--cuda-graph, "
                    + CUDA_GRAPH + "=1) need a CUDA device; this session runs on " + device);
        }
        for (String k : new TreeMap<>(cudaOptions).keySet()) {
            if (!isSessionSetting(k)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "'" + k + "' is a CUDA provider"
                        + " option and does nothing on " + device + "; on the CPU only session.* entries, "
                        + MEMORY_PATTERN + ", " + HEAD_COPIES + ", " + INTER_OP_THREADS + ", " + IO_BINDING + ", "
                        + FUSED_KERNELS + " and " + DIM_PREFIX + "* apply");
            }
        }
    }

    private static boolean isSessionSetting(String key) {
        return key.startsWith(SESSION_PREFIX) || key.equals(MEMORY_PATTERN) || key.equals(HEAD_COPIES)
                || key.startsWith(DIM_PREFIX) || key.equals(IO_BINDING) || key.equals(FUSED_KERNELS)
                || key.equals(INTER_OP_THREADS);
    }

    /**
     * Key of {@link #cudaOptions} that runs independent nodes of a CPU session at once: N >= 2 is ONNX Runtime's
     * parallel execution mode with N inter-op threads, each node's own loops still on the {@link #threads} intra-op
     * threads; 1 (the default) runs the nodes one after another. A training step has many small independent
     * branches (each adapter's factor gradients, the q/k/v paths of every layer), which one node at a time cannot
     * spread over many cores.
     */
    public static final String INTER_OP_THREADS = "inter_op_threads";

    /** The inter-op thread count ({@link #INTER_OP_THREADS}): 1 unless given. */
    public int interOpThreads() {
        String v = settings().get(INTER_OP_THREADS);
        if (v == null) {
            return 1;
        }
        int n;
        try {
            n = Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            n = 0;
        }
        if (n < 1) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, INTER_OP_THREADS
                    + " must be a thread count >= 1, not '" + v + "'");
        }
        return n;
    }

    /**
     * Prefix of {@link #cudaOptions} keys that fix a graph input's symbolic dim for the session's life
     * ({@code dim.batch_size=32}: ONNX Runtime's free-dimension override), so that its optimizer folds the
     * shape arithmetic that dim feeds; every run must then feed that size. Any device.
     */
    public static final String DIM_PREFIX = "dim.";

    /** The symbolic dims fixed by {@link #DIM_PREFIX} keys: name → size (each a positive integer). */
    public Map<String, Long> symbolicDims() {
        Map<String, Long> m = new TreeMap<>();
        settings().forEach((k, v) -> {
            if (k.startsWith(DIM_PREFIX)) {
                long n;
                try {
                    n = Long.parseLong(v.trim());
                } catch (NumberFormatException e) {
                    n = 0;
                }
                if (n <= 0 || k.length() == DIM_PREFIX.length()) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, "'" + k + "=" + v
                            + "' must name a dim and give it a positive size (e.g. " + DIM_PREFIX + "batch_size=32)");
                }
                m.put(k.substring(DIM_PREFIX.length()), n);
            }
        });
        return m;
    }

    /**
     * Key of {@link #cudaOptions} that says how a CPU session copies attention heads: {@value #GATHER} (the
     * default: a Gather on the intra-op threads, {@code train.DeviceGraphs}) or {@value #TRANSPOSE} (the compiled head
     * transposes, ORT's one-threaded Transpose). Gather is the default because where the one-threaded copies
     * leave cores idle it wins: on a 16-core Sapphire Rapids host at 16 threads the tiny step took 6–15 % less
     * (bart-base's 64-wide heads: within 1 %). At 2 threads the two are within run-to-run noise when measured on
     * the same cores (a 2-core EPYC saw bart-base lose 1–15 %, in matrix products the rewrite does not touch).
     */
    public static final String HEAD_COPIES = "head_copies";
    public static final String GATHER = "gather";
    public static final String TRANSPOSE = "transpose";

    /** Whether CPU sessions should copy attention heads with a Gather ({@link #HEAD_COPIES}): unless told not to. */
    public boolean headCopiesByGather() {
        return device.kind() == Device.Kind.CPU && !TRANSPOSE.equals(settings().get(HEAD_COPIES));
    }

    /**
     * Key of {@link #cudaOptions} that runs the fused training step through IO binding (1), its adapters and AdamW
     * moments resident in device memory ({@link BoundSession}; Java 22+), instead of fed and fetched through the
     * Java API (0, the default). With {@code enable_cuda_graph=1} as well ONNX Runtime captures the step as CUDA
     * graphs, one per batch shape, and replays them. Any device.
     */
    public static final String IO_BINDING = "io_binding";

    /** Whether the fused step runs through IO binding ({@link #IO_BINDING}). */
    public boolean ioBinding() {
        return zeroOrOne(IO_BINDING, false);
    }

    /** The 0/1 setting {@code key}, {@code absent} when it is not given. */
    private boolean zeroOrOne(String key, boolean absent) {
        String v = settings().get(key);
        if (v == null) {
            return absent;
        }
        if (!v.equals("0") && !v.equals("1")) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.CUDA_OPTIONS, key + " must be 0 or 1, not '"
                    + v + "'");
        }
        return v.equals("1");
    }

    /**
     * Key of {@link #cudaOptions} that lets training sessions run onnx-lora's fused backward kernels ({@link FusedKernels}:
     * 1, the default, wherever the device's kernel library is found) or keeps the stock-op backward (0). Any device.
     */
    public static final String FUSED_KERNELS = "fused_kernels";

    /** Whether training sessions may use {@link FusedKernels} ({@link #FUSED_KERNELS}). */
    public boolean fusedKernels() {
        return zeroOrOne(FUSED_KERNELS, true);
    }

    /** ONNX Runtime's CUDA provider option that captures a session's runs as CUDA graphs (1) and replays them. */
    public static final String CUDA_GRAPH = "enable_cuda_graph";

    /**
     * Whether the fused step's CUDA session captures CUDA graphs ({@link #CUDA_GRAPH}; needs {@link #IO_BINDING}): one
     * per adapter-state set and batch shape, with the graph's dims symbolic or fixed.
     */
    public boolean cudaGraph() {
        return device.kind() == Device.Kind.CUDA && "1".equals(settings().get(CUDA_GRAPH));
    }

    /** These options for a session that must not capture graphs (evaluation, the separate training graphs). */
    public RuntimeOptions withoutCudaGraph() {
        if (!cudaOptions.containsKey(CUDA_GRAPH)) {
            return this;
        }
        Map<String, String> m = new TreeMap<>(cudaOptions);
        m.remove(CUDA_GRAPH);
        return withCudaOptions(m);
    }

    /** Key of {@link #cudaOptions} that turns ORT's memory-pattern planning on (1) or off (0) instead. */
    public static final String MEMORY_PATTERN = "enable_mem_pattern";

    /** Prefix of {@link #cudaOptions} keys that are session configuration entries, not provider options. */
    public static final String SESSION_PREFIX = "session.";

    /**
     * The CUDA provider options onnx-lora passes: its own first, then {@link #cudaOptions} (which win),
     * less the session settings among them ({@link #sessionConfigEntries}, {@link #memoryPattern}).
     */
    public Map<String, String> effectiveCudaOptions() {
        Map<String, String> m = new TreeMap<>();
        m.put("use_tf32", allowTf32 ? "1" : "0");
        settings().forEach((k, v) -> {
            if (!isSessionSetting(k)) {
                m.put(k, v);
            }
        });
        return m;
    }

    /**
     * Session configuration entries given among the CUDA options ({@code session.use_device_allocator_for_initializers},
     * ...): the device's memory settings are measured side by side with the provider's, through one option.
     */
    public Map<String, String> sessionConfigEntries() {
        Map<String, String> m = new TreeMap<>();
        settings().forEach((k, v) -> {
            if (k.startsWith(SESSION_PREFIX)) {
                m.put(k, v);
            }
        });
        return m;
    }

    /** Memory-pattern planning as given among the CUDA options; empty leaves ORT's default. */
    public java.util.Optional<Boolean> memoryPattern() {
        String v = settings().get(MEMORY_PATTERN);
        if (v == null) {
            return java.util.Optional.empty();
        }
        if (!v.equals("0") && !v.equals("1")) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, MEMORY_PATTERN + " must be 0 or 1, not '" + v + "'");
        }
        return java.util.Optional.of(v.equals("1"));
    }
}
