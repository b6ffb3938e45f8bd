package org.onnxlora.runtime;

import java.util.Locale;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * A named trade between step time and GPU memory, as ONNX Runtime settings. Measured on an H200 with the
 * bart-base shape (batch 32, 128 + 32 tokens, fp32; docs/benchmarks.md, sessions 3 and 4): {@link #LEAN} peaks at
 * 3.6–3.8 GB instead of 6.0–6.1 GB (−40 %), at 0–3 % of step time in fp32 and 16 % faster in bf16, so it is what
 * CUDA sessions get unless told otherwise ({@link #AUTO}).
 */
public enum GpuMemory {
    /** The device's default: {@link #LEAN} on CUDA; on the CPU ONNX Runtime's defaults less the memory pattern. */
    AUTO(Map.of()),
    /** ONNX Runtime's defaults: one memory block planned for the whole step, an arena growing by powers of two. */
    FAST(Map.of()),
    /**
     * Allocations follow each tensor's lifetime (no memory pattern), the CUDA arena grows by what is asked,
     * and initializers are allocated outside the arena.
     */
    LEAN(Map.of(RuntimeOptions.MEMORY_PATTERN, "0", "arena_extend_strategy", "kSameAsRequested",
            "session.use_device_allocator_for_initializers", "1"));

    private final Map<String, String> settings;

    GpuMemory(Map<String, String> settings) {
        this.settings = settings;
    }

    /** What this setting means on {@code device}: {@link #AUTO} resolved, the others as they are. */
    public GpuMemory on(Device device) {
        if (this != AUTO) {
            return this;
        }
        return device.kind() == Device.Kind.CUDA ? LEAN : FAST;
    }

    /** The settings, in the form of {@link RuntimeOptions#cudaOptions()} ({@link #AUTO}: resolve it first). */
    public Map<String, String> settings() {
        return settings;
    }

    /**
     * {@link #AUTO} on the CPU: no memory pattern. ORT plans the pattern on a session's first run and allocates it,
     * one block for the whole step, on the second, so that run first-touches the block's pages: on bart-base at
     * batch 32 with 2 threads the second step took 15.0–17.1 s against 10.3–13.2 s for later ones (on the H200
     * host's CPU 12.1 s against 9.7 s in one run), and the block held the process at 6.0 GB RSS. Without the
     * pattern, tensors come from the arena as they live, the first run pays the pages, and the process peaks at
     * 3.9 GB; later steps are as fast within noise and bit-identical.
     */
    private static final Map<String, String> CPU_AUTO = Map.of(RuntimeOptions.MEMORY_PATTERN, "0");

    /** What this setting puts into a session on {@code device}: {@link #AUTO} resolved, the others as they are. */
    public Map<String, String> settingsOn(Device device) {
        return this == AUTO && device.kind() == Device.Kind.CPU ? CPU_AUTO : on(device).settings();
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static GpuMemory parse(String s) {
        for (GpuMemory g : values()) {
            if (g.label().equals(s == null ? "" : s.trim().toLowerCase(Locale.ROOT))) {
                return g;
            }
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.GPU_MEMORY, "the GPU memory setting is auto, fast or lean,"
                + " not '" + s + "'");
    }
}
