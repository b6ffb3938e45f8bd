package org.onnxlora.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.runtime.GpuMemory;
import org.onnxlora.runtime.RuntimeOptions;
import picocli.CommandLine.Option;

/** The GPU flags shared by train and bench-train: a memory preset, ONNX Runtime settings by key, CUDA graphs. */
final class GpuMemoryOptions {
    @Option(names = "--gpu-memory", defaultValue = "auto", paramLabel = "auto|lean|fast",
            description = "auto (default): lean on CUDA; on the CPU ONNX Runtime's defaults without the memory pattern"
                    + " (enable_mem_pattern=0: bart-base at batch 32 peaked at 3.9 GB instead of 6.0 GB, its later steps as"
                    + " fast). lean: allocations follow each tensor's lifetime"
                    + " (enable_mem_pattern=0, arena_extend_strategy=kSameAsRequested,"
                    + " session.use_device_allocator_for_initializers=1): on an H200, bart-base at batch 32 peaked at"
                    + " 3.6 GB instead of 6.1 GB, as fast in fp32 (within 3 percent) and faster in bf16. fast: ONNX Runtime's"
                    + " defaults, one memory block planned for the whole step, on either device. lean is refused on the CPU, where its"
                    + " arena settings would do nothing.")
    String gpuMemory;

    @Option(names = "--cuda-option", paramLabel = "KEY=VALUE",
            description = "ONNX Runtime CUDA provider option, repeatable (e.g. gpu_mem_limit=8589934592); overrides"
                    + " --gpu-memory key by key. session.* keys are ONNX Runtime session config entries and"
                    + " enable_mem_pattern=0|1 its memory-pattern planning (these two also apply on the CPU);"
                    + " head_copies=gather|transpose (CPU only) says how attention heads are split and merged:"
                    + " gather (default) copies them on all intra-op threads; transpose keeps the compiled head"
                    + " transposes, ONNX Runtime's one-threaded Transpose (same results to the bit); inter_op_threads=N"
                    + " (CPU only) runs independent nodes at once on N threads, ONNX Runtime's parallel executor (measured"
                    + " slower on BART: 29 to 41 percent at 16 cores); dim.NAME=SIZE fixes the"
                    + " graphs' symbolic dim NAME, so that ONNX Runtime folds the shape arithmetic it feeds (every"
                    + " batch must then have that size; bench-train --static-shapes sets them); io_binding=1 (Java 22+,"
                    + " any device) runs each step through ONNX Runtime's IO binding with the adapters and optimizer"
                    + " state kept in device memory (same results to the bit; bart-base on real data, H200: 7 percent"
                    + " faster); enable_cuda_graph=1 with it replays the step as CUDA graphs (--cuda-graph); fused_kernels=0"
                    + " (any device) runs the stock-op GELU and LayerNorm backward instead of the fused kernels of"
                    + " onnx-lora's kernel library (on by default where the library is found: built into the jar for the CPU, and for CUDA"
                    + " built with nvcc and named by ONNXLORA_KERNELS_DIR; same gradients to float32 rounding).")
    Map<String, String> cudaOptions = new LinkedHashMap<>();

    @Option(names = "--cuda-graph", description = "Run the fused step through IO binding, adapters and moments"
            + " resident on the GPU, and let ONNX Runtime capture it as a CUDA graph per batch shape and replay it:"
            + " the GPU no longer waits for the host to launch each kernel. Needs --device cuda and Java 22+. It pays"
            + " where the host is slower than the GPU: on an H200 the tiny model trains on real data at 2.1 instead"
            + " of 5.1 ms a step, bart-base at fixed 128+32 tokens at 39.8 instead of 44.7 ms; bart-base on real data"
            + " is GPU-bound and gains nothing, and each new batch shape costs a capture (about 70 ms on bart-base)."
            + " The same as --cuda-option io_binding=1 --cuda-option enable_cuda_graph=1.")
    boolean cudaGraph;

    RuntimeOptions apply(RuntimeOptions base) {
        Map<String, String> options = new LinkedHashMap<>(cudaOptions);
        if (cudaGraph) {
            // a graph replays fixed addresses: the bound step's
            options.put(RuntimeOptions.IO_BINDING, "1");
            options.put(RuntimeOptions.CUDA_GRAPH, "1");
        }
        return base.withGpuMemory(GpuMemory.parse(gpuMemory)).withCudaOptions(options);
    }
}
