package org.onnxlora.runtime.ffm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.lang.foreign.MemorySegment;
import java.nio.FloatBuffer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.BoundSession;
import org.onnxlora.runtime.Device;
import org.onnxlora.testing.TinyGraphs;

/**
 * Every C API entry the binding uses, called on a one-node CPU session: each index into ONNX Runtime's function
 * table either does what its name says or this fails (a wrong index calls another function, or crashes the JVM).
 */
class OrtCApiFfmTest {
    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    /** y = x + x, x of 2 × 3 floats. */
    private static OrtSession doubling() throws Exception {
        byte[] m = new TinyGraphs(1).input("x", DataType.FLOAT_VALUE, 2L, 3L)
                .node("Add", "/add", List.of("x", "x"), List.of("y"))
                .output("y", DataType.FLOAT_VALUE, 2L, 3L).model().toByteArray();
        return ENV.createSession(m, new OrtSession.SessionOptions());
    }

    @Test
    void aBoundRunComputesWhatTheJavaApiComputes() throws Exception {
        try (OrtSession s = doubling(); BoundSession b = BoundSession.open(s, Device.CPU);
                OnnxTensor x = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(new float[] {1, 2, 3, 4, 5, 6}), new long[] {2, 3});
                OnnxTensor y = OnnxTensor.createTensor(ENV, FloatBuffer.allocate(6), new long[] {2, 3})) {
            BoundSession.DeviceTensor dx = b.allocate(OnnxJavaType.FLOAT, 2, 3);
            BoundSession.DeviceTensor flat = b.allocate(OnnxJavaType.FLOAT, 16);
            // the output lands in a view of a larger tensor, at an offset: views alias their base
            BoundSession.DeviceTensor dy = b.view(flat, 4, 2, 3);
            b.upload(x, dx);
            b.run(b.bind(Map.of("x", dx), Map.of("y", dy)));
            b.download(dy, y);
            float[] got = new float[6];
            y.getFloatBuffer().get(got);
            assertArrayEquals(new float[] {2, 4, 6, 8, 10, 12}, got);
            assertThrows(IllegalArgumentException.class, () -> b.view(flat, 12, 2, 3), "past the end of its base");
            assertThrows(IllegalArgumentException.class, () -> b.bind(Map.of(), Map.of("y", dy)), "x unbound");
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> b.upload(x, flat));
            assertTrue(shape.getMessage().contains("does not match"), shape.getMessage());
        }
    }

    @Test
    void runConfigEntriesAreAccepted() {
        OrtCApi api = OrtCApi.get();
        MemorySegment ro = api.createRunOptions();
        try {
            api.addRunConfigEntry(ro, "gpu_graph_id", "1");
            api.addRunConfigEntry(ro, "memory.enable_memory_arena_shrinkage", "cpu:0");
        } finally {
            api.releaseRunOptions(ro);
        }
    }

    @Test
    void anOrtErrorBecomesOneRuntimeErrorWithOrtsMessage() throws Exception {
        OrtCApi api = OrtCApi.get();
        try (OrtSession s = doubling(); FfmBoundSession b = new FfmBoundSession(s, Device.CPU)) {
            MemorySegment handle = MemorySegment.ofAddress(sessionHandle(s));
            MemorySegment binding = api.createIoBinding(handle);
            try {
                BoundSession.DeviceTensor t = b.allocate(OnnxJavaType.FLOAT, 2, 3);
                MemorySegment value = valueOf(t);
                OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> api.bindInput(binding, "nope", value));
                assertEquals(ErrorCode.RUNTIME, e.code());
                assertTrue(e.getMessage().startsWith("BindInput(nope): "), e.getMessage());
                assertTrue(e.getMessage().length() > "BindInput(nope): ".length() + 5, "ORT's own message: " + e.getMessage());
                assertTrue(!e.getMessage().contains("no message"), e.getMessage());
            } finally {
                api.releaseIoBinding(binding);
            }
        }
    }

    private static long sessionHandle(OrtSession s) throws Exception {
        java.lang.reflect.Field f = OrtSession.class.getDeclaredField("nativeHandle");
        f.setAccessible(true);
        return f.getLong(s);
    }

    private static MemorySegment valueOf(BoundSession.DeviceTensor t) throws Exception {
        java.lang.reflect.Method m = t.getClass().getDeclaredMethod("value");
        m.setAccessible(true);
        return (MemorySegment) m.invoke(t);
    }
}
