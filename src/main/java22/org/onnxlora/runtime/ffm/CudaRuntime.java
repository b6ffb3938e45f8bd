package org.onnxlora.runtime.ffm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Host–device copies through the CUDA runtime that ONNX Runtime's CUDA provider links ({@code libcudart.so.12}:
 * opening it again by name returns the instance already loaded, so the copies see the provider's device context).
 */
final class CudaRuntime {
    private static final String LIBRARY = "libcudart.so.12";
    /** cudaMemcpyDefault: the direction follows from the pointers (unified addressing, every 64-bit CUDA system). */
    private static final int MEMCPY_DEFAULT = 4;

    private static volatile CudaRuntime instance;

    private final MethodHandle memcpy;
    private final MethodHandle setDevice;
    private final MethodHandle streamSynchronize;
    private final MethodHandle getErrorString;

    private CudaRuntime() {
        SymbolLookup lib;
        try {
            lib = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
        } catch (IllegalArgumentException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot open " + LIBRARY
                    + " (the CUDA 12 runtime ONNX Runtime's CUDA provider uses): " + e.getMessage(), e);
        }
        Linker linker = Linker.nativeLinker();
        memcpy = linker.downcallHandle(find(lib, "cudaMemcpy"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT));
        setDevice = linker.downcallHandle(find(lib, "cudaSetDevice"), FunctionDescriptor.of(JAVA_INT, JAVA_INT));
        streamSynchronize = linker.downcallHandle(find(lib, "cudaStreamSynchronize"),
                FunctionDescriptor.of(JAVA_INT, ADDRESS));
        getErrorString = linker.downcallHandle(find(lib, "cudaGetErrorString"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    static CudaRuntime get() {
        CudaRuntime r = instance;
        if (r == null) {
            synchronized (CudaRuntime.class) {
                r = instance;
                if (r == null) {
                    instance = r = new CudaRuntime();
                }
            }
        }
        return r;
    }

    private static MemorySegment find(SymbolLookup lib, String name) {
        return lib.find(name).orElseThrow(() -> new OnnxLoraException(ErrorCode.RUNTIME, LIBRARY + " has no " + name));
    }

    /**
     * Makes {@code index} the calling thread's current device: the legacy default stream that {@link #copy} runs on
     * and {@link #synchronize} waits for is the current device's, so a session on another GPU than device 0 (one
     * thread per GPU in a data-parallel run) must say which.
     */
    void useDevice(int index) {
        try {
            check((int) setDevice.invokeExact(index), "cudaSetDevice(" + index + ")");
        } catch (OnnxLoraException e) {
            throw e;
        } catch (Throwable t) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cudaSetDevice: " + t, t);
        }
    }

    /** Copies {@code bytes} from {@code src} to {@code dst}, either of them host or device memory. */
    void copy(MemorySegment dst, MemorySegment src, long bytes) {
        try {
            check((int) memcpy.invokeExact(dst, src, bytes, MEMCPY_DEFAULT), "cudaMemcpy");
        } catch (OnnxLoraException e) {
            throw e;
        } catch (Throwable t) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cudaMemcpy: " + t, t);
        }
    }

    /**
     * Waits for the legacy default stream, on which {@link #copy} runs: a copy from pageable host memory may return
     * before its DMA completes, and ONNX Runtime's own stream does not wait for the default one.
     */
    void synchronize() {
        try {
            check((int) streamSynchronize.invokeExact(MemorySegment.NULL), "cudaStreamSynchronize");
        } catch (OnnxLoraException e) {
            throw e;
        } catch (Throwable t) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cudaStreamSynchronize: " + t, t);
        }
    }

    private void check(int error, String what) throws Throwable {
        if (error != 0) {
            String s = ((MemorySegment) getErrorString.invokeExact(error)).reinterpret(Long.MAX_VALUE).getString(0);
            throw new OnnxLoraException(ErrorCode.RUNTIME, what + " failed: " + s + " (error " + error + ")");
        }
    }
}
