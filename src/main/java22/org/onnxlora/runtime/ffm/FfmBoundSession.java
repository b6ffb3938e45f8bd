package org.onnxlora.runtime.ffm;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Field;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.runtime.BoundSession;
import org.onnxlora.runtime.Device;

/**
 * {@link BoundSession} on ONNX Runtime's C API ({@link OrtCApi}): device tensors from the session's own allocator
 * for its device (on CUDA, its arena), one {@code OrtIoBinding} per {@link Binding}, and host–device copies by
 * {@code cudaMemcpy} ({@link CudaRuntime}) or, on the CPU, plain memory copies.
 *
 * <p>The session's and host tensors' native handles are read from the fields ONNX Runtime's Java classes keep
 * them in ({@code OrtSession.nativeHandle}, {@code OnnxTensorLike.nativeHandle}): the Java API has no accessor,
 * and those fields have held them since its first release.
 */
public final class FfmBoundSession implements BoundSession {
    /** Run configuration key naming the CUDA graph a run captures or replays (ORT's kOrtRunOptionsConfigCudaGraphAnnotation). */
    private static final String GRAPH_ID = "gpu_graph_id";

    private static final Field SESSION_HANDLE = field(OrtSession.class, "nativeHandle");
    private static final Field TENSOR_HANDLE = field(OnnxTensorLike.class, "nativeHandle");

    private final OrtCApi api = OrtCApi.get();
    private final OrtSession session;
    private final MemorySegment sessionHandle;
    private final CudaRuntime cuda;
    private final int deviceIndex;
    private final MemorySegment memoryInfo;
    private final MemorySegment allocator;
    /** In creation order (released in reverse: views before the tensors they point into). */
    private final List<Tensor> tensors = new ArrayList<>();
    private final Set<Tensor> known = Collections.newSetFromMap(new IdentityHashMap<>());
    private final List<BindingImpl> bindings = new ArrayList<>();
    private final Set<BindingImpl> knownBindings = Collections.newSetFromMap(new IdentityHashMap<>());
    private boolean uploadsPending;
    private boolean closed;

    public FfmBoundSession(OrtSession session, Device device) {
        this.session = session;
        this.sessionHandle = MemorySegment.ofAddress(handle(SESSION_HANDLE, session));
        boolean onCuda = device.kind() == Device.Kind.CUDA;
        this.cuda = onCuda ? CudaRuntime.get() : null;
        this.deviceIndex = device.index();
        MemorySegment info = api.createMemoryInfo(onCuda ? "Cuda" : "Cpu", OrtCApi.ARENA_ALLOCATOR,
                onCuda ? device.index() : 0, OrtCApi.MEM_TYPE_DEFAULT);
        try {
            this.allocator = api.createAllocator(sessionHandle, info);
        } catch (RuntimeException e) {
            api.releaseMemoryInfo(info);
            throw e;
        }
        this.memoryInfo = info;
    }

    private static Field field(Class<?> c, String name) {
        try {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return f;
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "this ONNX Runtime's Java classes keep no " + c.getSimpleName()
                    + "." + name + " (IO binding reads the native handle from it): " + e, e);
        }
    }

    private static long handle(Field f, Object o) {
        try {
            return f.getLong(o);
        } catch (IllegalAccessException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot read " + f + ": " + e, e);
        }
    }

    /** A device tensor: an OrtValue over memory this session's allocator gave, or a view into another one's. */
    private record Tensor(OnnxJavaType type, long[] shape, long bytes, MemorySegment value, MemorySegment data)
            implements DeviceTensor {
        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    private record BindingImpl(MemorySegment handle, MemorySegment runOptions) implements Binding {}

    private static long elements(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("a device tensor needs a concrete shape, got " + Arrays.toString(shape));
            }
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** ONNX's TensorProto element type for {@code t}. */
    private static int elementType(OnnxJavaType t) {
        return switch (t) {
            case FLOAT -> 1;
            case UINT8 -> 2;
            case INT8 -> 3;
            case INT16 -> 5;
            case INT32 -> 6;
            case INT64 -> 7;
            case BOOL -> 9;
            case FLOAT16 -> 10;
            case DOUBLE -> 11;
            case BFLOAT16 -> 16;
            default -> throw new IllegalArgumentException("no device tensors of " + t);
        };
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("the bound session is closed");
        }
    }

    @Override
    public DeviceTensor allocate(OnnxJavaType type, long... shape) {
        requireOpen();
        long bytes = elements(shape) * type.size;
        MemorySegment value = api.createTensor(allocator, shape, elementType(type));
        Tensor t = new Tensor(type, shape.clone(), bytes, value, api.tensorData(value).reinterpret(bytes));
        tensors.add(t);
        known.add(t);
        return t;
    }

    @Override
    public DeviceTensor view(DeviceTensor base, long offset, long... shape) {
        requireOpen();
        Tensor b = own(base);
        long bytes = elements(shape) * b.type().size;
        long start = offset * b.type().size;
        if (offset < 0 || start + bytes > b.bytes()) {
            throw new IllegalArgumentException("a view of elements [" + offset + ", " + (offset + elements(shape))
                    + ") does not fit a tensor of " + b.bytes() / b.type().size + " elements");
        }
        MemorySegment data = b.data().asSlice(start, bytes);
        MemorySegment value = api.createTensorOver(memoryInfo, data, bytes, shape, elementType(b.type()));
        Tensor t = new Tensor(b.type(), shape.clone(), bytes, value, data);
        tensors.add(t);
        known.add(t);
        return t;
    }

    private Tensor own(DeviceTensor t) {
        if (!(t instanceof Tensor own) || !known.contains(own)) {
            throw new IllegalArgumentException("not a tensor of this bound session");
        }
        return own;
    }

    /** The host tensor's data, checked against {@code device}'s type and size. */
    private MemorySegment hostData(OnnxTensor host, Tensor device) {
        TensorInfo info = host.getInfo();
        long bytes = elements(info.getShape()) * info.type.size;
        if (info.type != device.type() || bytes != device.bytes()) {
            throw new IllegalArgumentException("host tensor " + info.type + Arrays.toString(info.getShape())
                    + " does not match device tensor " + device.type() + Arrays.toString(device.shape));
        }
        return api.tensorData(MemorySegment.ofAddress(handle(TENSOR_HANDLE, host))).reinterpret(bytes);
    }

    @Override
    public void upload(OnnxTensor host, DeviceTensor to) {
        requireOpen();
        Tensor d = own(to);
        copy(d.data(), hostData(host, d), d.bytes());
        if (cuda != null) {
            uploadsPending = true;
        }
    }

    @Override
    public void download(DeviceTensor from, OnnxTensor host) {
        requireOpen();
        Tensor d = own(from);
        // device to pageable host memory: complete when cudaMemcpy returns
        copy(hostData(host, d), d.data(), d.bytes());
    }

    /** {@code bytes} from {@code from} to {@code to}: cudaMemcpy on this session's GPU, else a plain copy. */
    private void copy(MemorySegment to, MemorySegment from, long bytes) {
        if (cuda == null) {
            MemorySegment.copy(from, 0, to, 0, bytes);
        } else {
            cuda.useDevice(deviceIndex);
            cuda.copy(to, from, bytes);
        }
    }

    @Override
    public Binding bind(Map<String, DeviceTensor> inputs, Map<String, DeviceTensor> outputs) {
        requireOpen();
        Set<String> missing = new TreeSet<>(session.getInputNames());
        missing.removeAll(inputs.keySet());
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("inputs left unbound: " + missing);
        }
        Set<String> unknown = new TreeSet<>(outputs.keySet());
        unknown.removeAll(session.getOutputNames());
        Set<String> unknownInputs = new TreeSet<>(inputs.keySet());
        unknownInputs.removeAll(session.getInputNames());
        unknown.addAll(unknownInputs);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("the session has no inputs or outputs " + unknown);
        }
        MemorySegment b = api.createIoBinding(sessionHandle);
        MemorySegment ro = MemorySegment.NULL;
        try {
            inputs.forEach((name, t) -> api.bindInput(b, name, own(t).value()));
            outputs.forEach((name, t) -> api.bindOutput(b, name, own(t).value()));
            ro = api.createRunOptions();
            if (cuda != null) {
                // each binding is its own set of addresses: with CUDA graphs on, its own captured graph (from 1: ORT
                // reserves 0, the default id, for runs that name none)
                api.addRunConfigEntry(ro, GRAPH_ID, Integer.toString(bindings.size() + 1));
            }
        } catch (RuntimeException e) {
            api.releaseRunOptions(ro);
            api.releaseIoBinding(b);
            throw e;
        }
        BindingImpl impl = new BindingImpl(b, ro);
        bindings.add(impl);
        knownBindings.add(impl);
        return impl;
    }

    @Override
    public void run(Binding binding) {
        requireOpen();
        if (!(binding instanceof BindingImpl b) || !knownBindings.contains(b)) {
            throw new IllegalArgumentException("not a binding of this bound session");
        }
        if (uploadsPending) {
            cuda.useDevice(deviceIndex);
            cuda.synchronize();
            uploadsPending = false;
        }
        api.runWithBinding(sessionHandle, b.runOptions(), b.handle());
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (BindingImpl b : bindings) {
            api.releaseIoBinding(b.handle());
            api.releaseRunOptions(b.runOptions());
        }
        bindings.clear();
        knownBindings.clear();
        // views first: they point into the memory of tensors released after them
        for (int i = tensors.size() - 1; i >= 0; i--) {
            api.releaseValue(tensors.get(i).value());
        }
        tensors.clear();
        known.clear();
        api.releaseAllocator(allocator);
        api.releaseMemoryInfo(memoryInfo);
    }
}
