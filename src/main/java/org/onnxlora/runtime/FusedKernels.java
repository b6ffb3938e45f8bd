package org.onnxlora.runtime;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * onnx-lora's kernel library ({@code src/main/native}): fused backward ops in the {@value #DOMAIN} domain for
 * ONNX Runtime's CPU and CUDA providers, which stock ONNX Runtime has only in its training build. The build puts
 * the CPU library into the jar; the CUDA one is built where nvcc is ({@code build.sh --cuda}, the GPU bundle) and
 * found through {@value #DIR_PROPERTY} or {@value #DIR_ENV}. Where neither exists for a device, its sessions run
 * the stock-op backward, the same gradient to float32 rounding.
 */
public final class FusedKernels {
    public static final String DOMAIN = "ai.onnxlora";
    /** A folder holding {@code libonnxlora_kernels.so} and/or {@code libonnxlora_kernels_cuda.so}. */
    public static final String DIR_PROPERTY = "onnxlora.kernels.dir";
    public static final String DIR_ENV = "ONNXLORA_KERNELS_DIR";
    private static final String RESOURCE_DIR = "/org/onnxlora/native/linux-x64/";
    private static final Map<Device.Kind, Optional<Path>> FOUND = new EnumMap<>(Device.Kind.class);

    private FusedKernels() {}

    /** The library file for sessions on {@code kind}, if this process has one. */
    public static synchronized Optional<Path> library(Device.Kind kind) {
        return FOUND.computeIfAbsent(kind, k -> find(k).map(FusedKernels::pinned));
    }

    /**
     * {@code lib}, loaded into the process for good. The Java API unloads a library registered with a
     * {@code SessionOptions} when those options close, which onnx-lora does as soon as the session exists; the
     * session's kernels would then point into unmapped code. A load of our own keeps it mapped.
     */
    private static Path pinned(Path lib) {
        try {
            System.load(lib.toString());
            return lib;
        } catch (UnsatisfiedLinkError e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot load onnx-lora's kernel library " + lib + ": "
                    + e.getMessage() + " (set " + RuntimeOptions.FUSED_KERNELS + "=0 to train without it)", e);
        }
    }

    /** Whether sessions with {@code options} run the kernels: allowed ({@link RuntimeOptions#FUSED_KERNELS}) and found. */
    public static boolean inUse(RuntimeOptions options) {
        return options.fusedKernels() && library(options.device().kind()).isPresent();
    }

    /** Registers the library for {@code device} with {@code so}; false (nothing registered) when there is none. */
    public static boolean register(SessionOptions so, Device device) {
        Optional<Path> lib = library(device.kind());
        if (lib.isEmpty()) {
            return false;
        }
        try {
            so.registerCustomOpLibrary(lib.get().toString());
            return true;
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load onnx-lora's kernel library "
                    + lib.get() + ": " + e.getMessage(), e);
        }
    }

    private static String fileName(Device.Kind kind) {
        return kind == Device.Kind.CUDA ? "libonnxlora_kernels_cuda.so" : "libonnxlora_kernels.so";
    }

    private static Optional<Path> find(Device.Kind kind) {
        String dir = System.getProperty(DIR_PROPERTY, System.getenv(DIR_ENV));
        if (dir != null && !dir.isBlank()) {
            if (!Files.isDirectory(Path.of(dir))) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the kernel library folder " + dir + " (" + DIR_ENV
                        + " or -D" + DIR_PROPERTY + ") is not a folder");
            }
            // a folder may hold the CPU library alone: CUDA sessions then run the stock ops
            Path p = Path.of(dir).resolve(fileName(kind));
            return Files.isRegularFile(p) ? Optional.of(p.toAbsolutePath()) : Optional.empty();
        }
        if (kind != Device.Kind.CPU || !isLinuxX64()) {
            return Optional.empty();
        }
        return extracted(fileName(kind));
    }

    private static boolean isLinuxX64() {
        String arch = System.getProperty("os.arch", "");
        return System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).startsWith("linux")
                && (arch.equals("amd64") || arch.equals("x86_64"));
    }

    /** The jar's copy written to a file of its own, since a shared library is loaded from a file. */
    private static Optional<Path> extracted(String name) {
        try (InputStream in = FusedKernels.class.getResourceAsStream(RESOURCE_DIR + name)) {
            if (in == null) {
                return Optional.empty();
            }
            Path dir = Files.createTempDirectory("onnxlora-kernels");
            Path file = dir.resolve(name);
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            file.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return Optional.of(file);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot extract onnx-lora's kernel library " + name + ": "
                    + e.getMessage(), e);
        }
    }
}
