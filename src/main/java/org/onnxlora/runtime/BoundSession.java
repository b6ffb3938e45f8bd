package org.onnxlora.runtime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * An ONNX Runtime session run through IO binding: tensors that stay in the session device's memory for as long
 * as this lives, bound by name to the session's inputs and outputs, and copied to or from host tensors only when
 * the caller asks. The Java API of the Maven jar has neither IO binding nor device tensors, so the implementation
 * ({@code org.onnxlora.runtime.ffm.FfmBoundSession}, in the Java 22 source set) calls ONNX Runtime's C API, from the
 * same {@code libonnxruntime} the jar loaded, through Java's foreign-function interface: it needs Java 22 or newer.
 *
 * <p>A binding's tensors keep their addresses for the session's life, which is what ONNX Runtime's CUDA graphs
 * ({@code enable_cuda_graph=1}) need: each {@link Binding} is captured as its own graph on its first runs and
 * replayed after, so one binding per set of addresses (two for a ping-pong state) and fixed shapes.
 *
 * <p>Not thread-safe: one thread runs it, always the same one where graphs are on (ONNX Runtime keeps captured
 * graphs per thread and captures in global mode, so no other CUDA work may run in the process during a binding's
 * first runs, and device tensors allocated after a capture may reuse memory the captured graph writes: allocate
 * every tensor and binding before the first run).
 */
public interface BoundSession extends AutoCloseable {
    /** Name of the implementation class, loaded only on Java 22+. */
    String IMPLEMENTATION = "org.onnxlora.runtime.ffm.FfmBoundSession";

    /** The first Java feature release with a final foreign-function interface. */
    int REQUIRED_JAVA = 22;

    /** A tensor in the session device's memory, alive until the session is closed. */
    interface DeviceTensor {
        OnnxJavaType type();

        long[] shape();

        /** Its size in bytes. */
        long bytes();
    }

    /** A fixed set of device tensors bound to the session's inputs and outputs by name. */
    interface Binding {}

    /** A new tensor of {@code type} and {@code shape} in device memory (contents undefined). */
    DeviceTensor allocate(OnnxJavaType type, long... shape);

    /**
     * Elements {@code [offset, offset + product(shape))} of {@code base} as a tensor of {@code shape}: the same
     * memory, no copy (a per-adapter view of a flat buffer).
     */
    DeviceTensor view(DeviceTensor base, long offset, long... shape);

    /** Copies {@code host} (same type and element count) into {@code to}. */
    void upload(OnnxTensor host, DeviceTensor to);

    /** Copies {@code from} into {@code host} (same type and element count); complete when this returns. */
    void download(DeviceTensor from, OnnxTensor host);

    /** Binds every input of the session and the named outputs; the tensors must outlive the binding. */
    Binding bind(Map<String, DeviceTensor> inputs, Map<String, DeviceTensor> outputs);

    /** Runs the session on {@code binding}; its outputs are written when this returns. */
    void run(Binding binding);

    /** Frees the device tensors and bindings (the session itself stays the caller's). */
    @Override
    void close();

    /**
     * Opens a bound session over {@code session}, which runs on {@code device} and stays the caller's (close this
     * first). Fails with {@link ErrorCode#BAD_ARGUMENT} on a Java older than {@link #REQUIRED_JAVA}.
     */
    static BoundSession open(OrtSession session, Device device) {
        int feature = Runtime.version().feature();
        if (feature < REQUIRED_JAVA) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "IO binding (" + RuntimeOptions.IO_BINDING
                    + "=1, --cuda-graph) calls ONNX Runtime's C API through Java's foreign-function"
                    + " interface and needs Java " + REQUIRED_JAVA + " or newer; this is Java " + feature);
        }
        try {
            return (BoundSession) Class.forName(IMPLEMENTATION)
                    .getConstructor(OrtSession.class, Device.class).newInstance(session, device);
        } catch (ClassNotFoundException e) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "this build of onnx-lora has no IO binding: build it"
                    + " with a JDK " + REQUIRED_JAVA + "+ present (the Maven profile ffm compiles src/main/java22)", e);
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot bind the session's inputs and outputs: "
                    + cause.getMessage(), cause);
        } catch (ReflectiveOperationException e) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "cannot load " + IMPLEMENTATION + ": " + e, e);
        }
    }
}
