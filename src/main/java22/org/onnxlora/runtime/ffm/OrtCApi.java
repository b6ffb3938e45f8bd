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
 * The few functions of ONNX Runtime's C API that IO binding needs, called through the foreign-function interface
 * on the {@code libonnxruntime} that ONNX Runtime's Java classes already loaded (so the same process-wide
 * environment, sessions and allocators).
 *
 * <p>The C API is a table of function pointers ({@code OrtApi}) whose order is ONNX Runtime's ABI: entries are only
 * ever appended, so an index below stays valid in every later release. The indices are positions in
 * {@code struct OrtApi} of {@code onnxruntime_c_api.h}; every one used here exists since ORT 1.14 (API version 14).
 */
final class OrtCApi {
    /** The API version asked for: old enough for every ORT this project ships, new enough for every entry below. */
    private static final int API_VERSION = 14;

    // positions in struct OrtApi
    private static final int GET_ERROR_MESSAGE = 2;
    private static final int CREATE_RUN_OPTIONS = 39;
    private static final int CREATE_TENSOR_AS_ORT_VALUE = 48;
    private static final int CREATE_TENSOR_WITH_DATA_AS_ORT_VALUE = 49;
    private static final int GET_TENSOR_MUTABLE_DATA = 51;
    private static final int CREATE_MEMORY_INFO = 68;
    private static final int RELEASE_STATUS = 93;
    private static final int RELEASE_MEMORY_INFO = 94;
    private static final int RELEASE_VALUE = 96;
    private static final int RELEASE_RUN_OPTIONS = 97;
    private static final int CREATE_ALLOCATOR = 131;
    private static final int RELEASE_ALLOCATOR = 132;
    private static final int RUN_WITH_BINDING = 133;
    private static final int CREATE_IO_BINDING = 134;
    private static final int RELEASE_IO_BINDING = 135;
    private static final int BIND_INPUT = 136;
    private static final int BIND_OUTPUT = 137;
    private static final int ADD_RUN_CONFIG_ENTRY = 165;
    /** The last entry used: the table must be at least this long. */
    private static final int LAST_USED = ADD_RUN_CONFIG_ENTRY;

    /** OrtAllocatorType and OrtMemType values. */
    static final int ARENA_ALLOCATOR = 1;
    static final int MEM_TYPE_DEFAULT = 0;

    private static final OrtCApi INSTANCE = new OrtCApi();

    private final MethodHandle getErrorMessage;
    private final MethodHandle releaseStatus;
    private final MethodHandle createRunOptions;
    private final MethodHandle addRunConfigEntry;
    private final MethodHandle releaseRunOptions;
    private final MethodHandle createTensorAsOrtValue;
    private final MethodHandle createTensorWithDataAsOrtValue;
    private final MethodHandle getTensorMutableData;
    private final MethodHandle releaseValue;
    private final MethodHandle createMemoryInfo;
    private final MethodHandle releaseMemoryInfo;
    private final MethodHandle createAllocator;
    private final MethodHandle releaseAllocator;
    private final MethodHandle createIoBinding;
    private final MethodHandle releaseIoBinding;
    private final MethodHandle bindInput;
    private final MethodHandle bindOutput;
    private final MethodHandle runWithBinding;

    private OrtCApi() {
        Linker linker = Linker.nativeLinker();
        // ONNX Runtime's Java classes System.load()ed libonnxruntime through this class loader (the same one that
        // loaded this class), so its exported symbols are in the loader's lookup
        ai.onnxruntime.OrtEnvironment.getEnvironment();
        MemorySegment getApiBase = SymbolLookup.loaderLookup().find("OrtGetApiBase")
                .or(() -> SymbolLookup.libraryLookup(System.mapLibraryName("onnxruntime"), Arena.global())
                        .find("OrtGetApiBase"))
                .orElseThrow(() -> new OnnxLoraException(ErrorCode.RUNTIME,
                        "ONNX Runtime's C API (OrtGetApiBase) is not in any loaded library"));
        try {
            MemorySegment base = ((MemorySegment) linker.downcallHandle(getApiBase, FunctionDescriptor.of(ADDRESS))
                    .invokeExact()).reinterpret(2 * ADDRESS.byteSize());
            MethodHandle getApi = linker.downcallHandle(base.get(ADDRESS, 0), FunctionDescriptor.of(ADDRESS, JAVA_INT));
            MemorySegment api = (MemorySegment) getApi.invokeExact(API_VERSION);
            if (api.equals(MemorySegment.NULL)) {
                throw new OnnxLoraException(ErrorCode.RUNTIME, "this ONNX Runtime has no C API version " + API_VERSION);
            }
            api = api.reinterpret((LAST_USED + 1) * ADDRESS.byteSize());
            FunctionDescriptor status1 = FunctionDescriptor.of(ADDRESS, ADDRESS);
            FunctionDescriptor status2 = FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS);
            FunctionDescriptor status3 = FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS);
            FunctionDescriptor release = FunctionDescriptor.ofVoid(ADDRESS);
            getErrorMessage = handle(linker, api, GET_ERROR_MESSAGE, FunctionDescriptor.of(ADDRESS, ADDRESS));
            releaseStatus = handle(linker, api, RELEASE_STATUS, release);
            createRunOptions = handle(linker, api, CREATE_RUN_OPTIONS, status1);
            addRunConfigEntry = handle(linker, api, ADD_RUN_CONFIG_ENTRY, status3);
            releaseRunOptions = handle(linker, api, RELEASE_RUN_OPTIONS, release);
            // (allocator, shape, shape_len, element type, out)
            createTensorAsOrtValue = handle(linker, api, CREATE_TENSOR_AS_ORT_VALUE,
                    FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS));
            // (memory info, data, data bytes, shape, shape_len, element type, out)
            createTensorWithDataAsOrtValue = handle(linker, api, CREATE_TENSOR_WITH_DATA_AS_ORT_VALUE,
                    FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS));
            getTensorMutableData = handle(linker, api, GET_TENSOR_MUTABLE_DATA, status2);
            releaseValue = handle(linker, api, RELEASE_VALUE, release);
            // (name, allocator type, device id, memory type, out)
            createMemoryInfo = handle(linker, api, CREATE_MEMORY_INFO,
                    FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
            releaseMemoryInfo = handle(linker, api, RELEASE_MEMORY_INFO, release);
            createAllocator = handle(linker, api, CREATE_ALLOCATOR, status3);
            releaseAllocator = handle(linker, api, RELEASE_ALLOCATOR, release);
            createIoBinding = handle(linker, api, CREATE_IO_BINDING, status2);
            releaseIoBinding = handle(linker, api, RELEASE_IO_BINDING, release);
            bindInput = handle(linker, api, BIND_INPUT, status3);
            bindOutput = handle(linker, api, BIND_OUTPUT, status3);
            runWithBinding = handle(linker, api, RUN_WITH_BINDING, status3);
        } catch (OnnxLoraException e) {
            throw e;
        } catch (Throwable t) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot reach ONNX Runtime's C API: " + t, t);
        }
    }

    static OrtCApi get() {
        return INSTANCE;
    }

    private static MethodHandle handle(Linker linker, MemorySegment api, int index, FunctionDescriptor fd) {
        MemorySegment fn = api.getAtIndex(ADDRESS, index);
        if (fn.equals(MemorySegment.NULL)) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime's C API has no entry " + index);
        }
        return linker.downcallHandle(fn, fd);
    }

    /** Throws the status's message as a RUNTIME error, naming {@code what}, when it is not OK (null). */
    private void check(MemorySegment status, String what) {
        if (status.equals(MemorySegment.NULL)) {
            return;
        }
        String message;
        try {
            message = ((MemorySegment) getErrorMessage.invokeExact(status)).reinterpret(Long.MAX_VALUE).getString(0);
        } catch (Throwable t) {
            message = "(no message: " + t + ")";
        } finally {
            try {
                releaseStatus.invokeExact(status);
            } catch (Throwable ignored) {
                // the error below is what matters
            }
        }
        throw new OnnxLoraException(ErrorCode.RUNTIME, what + ": " + message);
    }

    private static RuntimeException wrap(String what, Throwable t) {
        if (t instanceof OnnxLoraException e) {
            return e;
        }
        return new OnnxLoraException(ErrorCode.RUNTIME, what + ": " + t, t);
    }

    /** Reads the pointer an out-parameter received. */
    private static MemorySegment out(MemorySegment slot) {
        return slot.get(ADDRESS, 0);
    }

    /** A C API call that writes its result through an out-parameter ({@code slot}) and returns an OrtStatus. */
    @FunctionalInterface
    private interface OutCall {
        MemorySegment call(Arena arena, MemorySegment slot) throws Throwable;
    }

    /** Runs {@code call} with a fresh out-parameter; returns the pointer it received, or throws ORT's message. */
    private MemorySegment withOut(String what, OutCall call) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment slot = a.allocate(ADDRESS);
            check(call.call(a, slot), what);
            return out(slot);
        } catch (Throwable t) {
            throw wrap(what, t);
        }
    }

    private static MemorySegment dims(Arena a, long[] shape) {
        return shape.length == 0 ? a.allocate(JAVA_LONG) : a.allocateFrom(JAVA_LONG, shape);
    }

    MemorySegment createMemoryInfo(String name, int allocatorType, int deviceId, int memType) {
        return withOut("CreateMemoryInfo(" + name + ")", (a, slot) -> (MemorySegment) createMemoryInfo.invokeExact(
                a.allocateFrom(name), allocatorType, deviceId, memType, slot));
    }

    MemorySegment createAllocator(MemorySegment session, MemorySegment memoryInfo) {
        return withOut("CreateAllocator", (a, slot) -> (MemorySegment) createAllocator.invokeExact(session, memoryInfo,
                slot));
    }

    MemorySegment createTensor(MemorySegment allocator, long[] shape, int elementType) {
        return withOut("CreateTensorAsOrtValue", (a, slot) -> (MemorySegment) createTensorAsOrtValue.invokeExact(
                allocator, dims(a, shape), (long) shape.length, elementType, slot));
    }

    MemorySegment createTensorOver(MemorySegment memoryInfo, MemorySegment data, long bytes, long[] shape,
            int elementType) {
        return withOut("CreateTensorWithDataAsOrtValue", (a, slot) -> (MemorySegment)
                createTensorWithDataAsOrtValue.invokeExact(memoryInfo, data, bytes, dims(a, shape), (long) shape.length,
                        elementType, slot));
    }

    /** The address of a tensor's data (device memory for a device tensor). */
    MemorySegment tensorData(MemorySegment value) {
        return withOut("GetTensorMutableData", (a, slot) -> (MemorySegment) getTensorMutableData.invokeExact(value,
                slot));
    }

    MemorySegment createIoBinding(MemorySegment session) {
        return withOut("CreateIoBinding", (a, slot) -> (MemorySegment) createIoBinding.invokeExact(session, slot));
    }

    void bindInput(MemorySegment binding, String name, MemorySegment value) {
        bind(bindInput, "BindInput", binding, name, value);
    }

    void bindOutput(MemorySegment binding, String name, MemorySegment value) {
        bind(bindOutput, "BindOutput", binding, name, value);
    }

    private void bind(MethodHandle h, String fn, MemorySegment binding, String name, MemorySegment value) {
        String what = fn + "(" + name + ")";
        try (Arena a = Arena.ofConfined()) {
            check((MemorySegment) h.invokeExact(binding, a.allocateFrom(name), value), what);
        } catch (Throwable t) {
            throw wrap(what, t);
        }
    }

    MemorySegment createRunOptions() {
        return withOut("CreateRunOptions", (a, slot) -> (MemorySegment) createRunOptions.invokeExact(slot));
    }

    void addRunConfigEntry(MemorySegment runOptions, String key, String value) {
        try (Arena a = Arena.ofConfined()) {
            check((MemorySegment) addRunConfigEntry.invokeExact(runOptions, a.allocateFrom(key), a.allocateFrom(value)),
                    "AddRunConfigEntry(" + key + ")");
        } catch (Throwable t) {
            throw wrap("AddRunConfigEntry(" + key + ")", t);
        }
    }

    void runWithBinding(MemorySegment session, MemorySegment runOptions, MemorySegment binding) {
        try {
            check((MemorySegment) runWithBinding.invokeExact(session, runOptions, binding), "RunWithBinding");
        } catch (Throwable t) {
            throw wrap("RunWithBinding", t);
        }
    }

    void releaseValue(MemorySegment v) {
        release(releaseValue, v);
    }

    void releaseIoBinding(MemorySegment v) {
        release(releaseIoBinding, v);
    }

    void releaseRunOptions(MemorySegment v) {
        release(releaseRunOptions, v);
    }

    void releaseAllocator(MemorySegment v) {
        release(releaseAllocator, v);
    }

    void releaseMemoryInfo(MemorySegment v) {
        release(releaseMemoryInfo, v);
    }

    private static void release(MethodHandle h, MemorySegment v) {
        if (v == null || v.equals(MemorySegment.NULL)) {
            return;
        }
        try {
            h.invokeExact(v);
        } catch (Throwable t) {
            throw wrap("release", t);
        }
    }
}
