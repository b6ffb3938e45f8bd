package org.onnxlora.runtime;

import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;

/**
 * How ONNX Runtime sessions are configured.
 *
 * @param device CPU or a CUDA device
 * @param threads intra-op threads (0 = ORT's default: one per core)
 * @param optimize graph optimizations on (ALL) or off (for parity checks)
 * @param disablePrepacking stop each consumer of a weight from keeping its own packed copy
 * @param optimizedModelPath where ORT should write the optimized graph (null = nowhere)
 * @param allowTf32 let CUDA use TF32 for float32 matrix products (faster, ~1e-3 relative error)
 * @param verboseLog log at ORT's VERBOSE level (node placements per execution provider, memcpy nodes)
 * @param profilePrefix write an ORT profile (JSON, per-node times) starting with this path (null = none)
 * @param cudaOptions extra CUDA provider options ({@code arena_extend_strategy}, {@code gpu_mem_limit}, ...),
 *     applied after onnx-lora's own
 */
public record RuntimeOptions(Device device, int threads, boolean optimize, boolean disablePrepacking,
        Path optimizedModelPath, boolean allowTf32, boolean verboseLog, Path profilePrefix,
        Map<String, String> cudaOptions) {

    public RuntimeOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        }
        cudaOptions = Map.copyOf(cudaOptions == null ? Map.of() : cudaOptions);
    }

    public static RuntimeOptions defaults() {
        return new RuntimeOptions(Device.CPU, 0, true, false, null, false, false, null, Map.of());
    }

    public RuntimeOptions withThreads(int t) {
        return new RuntimeOptions(device, t, optimize, disablePrepacking, optimizedModelPath, allowTf32, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withDevice(Device d) {
        return new RuntimeOptions(d, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withOptimize(boolean o) {
        return new RuntimeOptions(device, threads, o, disablePrepacking, optimizedModelPath, allowTf32, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withOptimizedModelPath(Path p) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, p, allowTf32, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withDisablePrepacking(boolean d) {
        return new RuntimeOptions(device, threads, optimize, d, optimizedModelPath, allowTf32, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withAllowTf32(boolean t) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, t, verboseLog,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withVerboseLog(boolean v) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, v,
                profilePrefix, cudaOptions);
    }

    public RuntimeOptions withProfilePrefix(Path p) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, verboseLog,
                p, cudaOptions);
    }

    public RuntimeOptions withCudaOptions(Map<String, String> o) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, verboseLog,
                profilePrefix, o);
    }

    /** The CUDA provider options onnx-lora passes: its own first, then {@link #cudaOptions} (which win). */
    public Map<String, String> effectiveCudaOptions() {
        Map<String, String> m = new TreeMap<>();
        m.put("use_tf32", allowTf32 ? "1" : "0");
        m.putAll(cudaOptions);
        return m;
    }
}
