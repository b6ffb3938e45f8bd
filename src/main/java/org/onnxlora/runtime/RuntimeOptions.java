package org.onnxlora.runtime;

import java.nio.file.Path;

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
 */
public record RuntimeOptions(Device device, int threads, boolean optimize, boolean disablePrepacking,
        Path optimizedModelPath, boolean allowTf32, boolean cpuArena) {

    public static RuntimeOptions defaults() {
        return new RuntimeOptions(Device.CPU, 0, true, false, null, false, true);
    }

    public RuntimeOptions withCpuArena(boolean a) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, a);
    }

    public RuntimeOptions withAllowTf32(boolean t) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, optimizedModelPath, t, cpuArena);
    }

    public RuntimeOptions withThreads(int t) {
        return new RuntimeOptions(device, t, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena);
    }

    public RuntimeOptions withDevice(Device d) {
        return new RuntimeOptions(d, threads, optimize, disablePrepacking, optimizedModelPath, allowTf32, cpuArena);
    }

    public RuntimeOptions withOptimize(boolean o) {
        return new RuntimeOptions(device, threads, o, disablePrepacking, optimizedModelPath, allowTf32, cpuArena);
    }

    public RuntimeOptions withOptimizedModelPath(Path p) {
        return new RuntimeOptions(device, threads, optimize, disablePrepacking, p, allowTf32, cpuArena);
    }

    public RuntimeOptions withDisablePrepacking(boolean d) {
        return new RuntimeOptions(device, threads, optimize, d, optimizedModelPath, allowTf32, cpuArena);
    }
}
