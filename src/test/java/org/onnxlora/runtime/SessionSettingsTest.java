package org.onnxlora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OrtSession.SessionOptions;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Session settings given among the CUDA options reach the session, not the CUDA provider. */
class SessionSettingsTest {
    private static final Map<String, String> GIVEN = Map.of("arena_extend_strategy", "kSameAsRequested",
            "session.use_device_allocator_for_initializers", "1", "session.intra_op.allow_spinning", "0",
            RuntimeOptions.MEMORY_PATTERN, "0");

    @Test
    void sessionKeysAreSplitFromProviderOptions() {
        RuntimeOptions o = RuntimeOptions.defaults().withCudaOptions(GIVEN);
        assertEquals(Map.of("use_tf32", "0", "arena_extend_strategy", "kSameAsRequested"), o.effectiveCudaOptions());
        assertEquals(Map.of("session.use_device_allocator_for_initializers", "1", "session.intra_op.allow_spinning", "0"),
                o.sessionConfigEntries());
        assertEquals(Optional.of(false), o.memoryPattern());
        assertEquals(Optional.of(true), RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.MEMORY_PATTERN,
                "1")).memoryPattern(), "a given key wins over the CPU's default");
    }

    @Test
    void sessionKeysBecomeConfigEntries() {
        Map<String, String> sessionOnly = new java.util.HashMap<>(GIVEN);
        sessionOnly.remove("arena_extend_strategy"); // a CUDA provider option: refused on the CPU
        try (SessionOptions so = Sessions.options(RuntimeOptions.defaults().withCudaOptions(sessionOnly))) {
            Map<String, String> entries = so.getConfigEntries();
            assertEquals("1", entries.get("session.use_device_allocator_for_initializers"));
            assertEquals("0", entries.get("session.intra_op.allow_spinning"));
            assertEquals(null, entries.get("arena_extend_strategy"));
        }
    }

    @Test
    void headCopiesAreACpuChoiceBetweenGatherAndTranspose() {
        assertEquals(true, RuntimeOptions.defaults().headCopiesByGather(), "gathered on the CPU by default");
        RuntimeOptions t = RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.HEAD_COPIES, "transpose"));
        t.requireApplicable();
        assertEquals(false, t.headCopiesByGather());
        RuntimeOptions g = RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.HEAD_COPIES, "gather"));
        g.requireApplicable();
        assertEquals(true, g.headCopiesByGather());
        assertEquals(Map.of("use_tf32", "0"), t.effectiveCudaOptions(), "not a provider option");
        assertEquals(Map.of(), t.sessionConfigEntries(), "nor a session entry");
        assertEquals(false, RuntimeOptions.defaults().withDevice(Device.parse("cuda")).headCopiesByGather());
        OnnxLoraException onCuda = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                .withDevice(Device.parse("cuda")).withCudaOptions(Map.of(RuntimeOptions.HEAD_COPIES, "gather"))
                .requireApplicable());
        assertEquals(ErrorCode.BAD_ARGUMENT, onCuda.code());
        assertTrue(onCuda.getMessage().contains("CPU sessions"), onCuda.getMessage());
        OnnxLoraException bad = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                .withCudaOptions(Map.of(RuntimeOptions.HEAD_COPIES, "einsum")).requireApplicable());
        assertTrue(bad.getMessage().contains("gather or transpose, not 'einsum'"), bad.getMessage());
    }

    @Test
    void dimKeysFixASymbolicDimForTheSession() throws Exception {
        RuntimeOptions o = RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.DIM_PREFIX + "n", "2"));
        o.requireApplicable();
        assertEquals(Map.of("n", 2L), o.symbolicDims());
        assertEquals(Map.of("use_tf32", "0"), o.effectiveCudaOptions(), "not a provider option");
        org.onnxlora.proto.Onnx.ModelProto m = new org.onnxlora.testing.TinyGraphs(1)
                .input("x", org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT_VALUE, "n", 4L)
                .node("Relu", "/r", java.util.List.of("x"), java.util.List.of("y"))
                .output("y", org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT_VALUE, "n", 4L).model();
        var env = ai.onnxruntime.OrtEnvironment.getEnvironment();
        try (SessionOptions so = Sessions.options(o); var s = env.createSession(m.toByteArray(), so);
                var two = ai.onnxruntime.OnnxTensor.createTensor(env, new float[2][4]);
                var three = ai.onnxruntime.OnnxTensor.createTensor(env, new float[3][4])) {
            s.run(Map.of("x", two)).close();
            assertThrows(ai.onnxruntime.OrtException.class, () -> s.run(Map.of("x", three)).close(),
                    "the session takes only the fixed size");
        }
        for (String bad : new String[] {"0", "-3", "x"}) {
            OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                    .withCudaOptions(Map.of(RuntimeOptions.DIM_PREFIX + "n", bad)).requireApplicable());
            assertTrue(e.getMessage().contains("positive size"), e.getMessage());
        }
    }

    @Test
    void ioBindingIsASessionChoiceOfZeroOrOne() {
        RuntimeOptions bound = RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.IO_BINDING, "1"));
        bound.requireApplicable();
        assertTrue(bound.ioBinding());
        assertEquals(false, RuntimeOptions.defaults().ioBinding(), "off by default");
        assertEquals(Map.of("use_tf32", "0"), bound.effectiveCudaOptions(), "not a provider option");
        assertEquals(Map.of(), bound.sessionConfigEntries(), "nor a session entry");
        OnnxLoraException bad = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                .withCudaOptions(Map.of(RuntimeOptions.IO_BINDING, "yes")).requireApplicable());
        assertEquals(ErrorCode.BAD_ARGUMENT, bad.code());
        assertTrue(bad.getMessage().contains("io_binding must be 0 or 1, not 'yes'"), bad.getMessage());
    }

    @Test
    void fusedKernelsAreOnByDefaultAndASessionChoiceOfZeroOrOne() {
        assertTrue(RuntimeOptions.defaults().fusedKernels(), "on by default");
        RuntimeOptions off = RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.FUSED_KERNELS, "0"));
        off.requireApplicable(); // a CPU session takes it: not a CUDA provider option
        assertEquals(false, off.fusedKernels());
        assertEquals(Map.of("use_tf32", "0"), off.effectiveCudaOptions(), "not a provider option");
        assertEquals(Map.of(), off.sessionConfigEntries(), "nor a session entry");
        OnnxLoraException bad = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                .withCudaOptions(Map.of(RuntimeOptions.FUSED_KERNELS, "on")).requireApplicable());
        assertEquals(ErrorCode.BAD_ARGUMENT, bad.code());
        assertTrue(bad.getMessage().contains("fused_kernels must be 0 or 1, not 'on'"), bad.getMessage());
    }

    @Test
    void interOpThreadsTurnOnTheParallelExecutorOnTheCpuOnly() throws Exception {
        assertEquals(1, RuntimeOptions.defaults().interOpThreads(), "nodes one after another by default");
        RuntimeOptions two = RuntimeOptions.defaults().withThreads(1)
                .withCudaOptions(Map.of(RuntimeOptions.INTER_OP_THREADS, "2"));
        two.requireApplicable();
        assertEquals(2, two.interOpThreads());
        assertEquals(Map.of("use_tf32", "0"), two.effectiveCudaOptions(), "not a provider option");
        assertEquals(Map.of(), two.sessionConfigEntries(), "nor a session entry");
        // two independent branches: the parallel executor gives the sequential one's results
        org.onnxlora.proto.Onnx.ModelProto m = new org.onnxlora.testing.TinyGraphs(1)
                .input("x", org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT_VALUE, 2L, 4L)
                .node("Relu", "/r", java.util.List.of("x"), java.util.List.of("a"))
                .node("Neg", "/n", java.util.List.of("x"), java.util.List.of("b"))
                .node("Add", "/s", java.util.List.of("a", "b"), java.util.List.of("y"))
                .output("y", org.onnxlora.proto.Onnx.TensorProto.DataType.FLOAT_VALUE, 2L, 4L).model();
        var env = ai.onnxruntime.OrtEnvironment.getEnvironment();
        float[][] x = {{1, -2, 3, -4}, {-5, 6, -7, 8}};
        try (var s = Sessions.create(m, two, "the test graph"); var in = ai.onnxruntime.OnnxTensor.createTensor(env, x);
                var out = s.run(Map.of("x", in))) {
            float[][] y = (float[][]) out.get(0).getValue();
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 4; j++) {
                    assertEquals(Math.max(x[i][j], 0) - x[i][j], y[i][j], 0.0f);
                }
            }
        }
        OnnxLoraException onCuda = assertThrows(OnnxLoraException.class, () -> two.withDevice(Device.parse("cuda"))
                .requireApplicable());
        assertTrue(onCuda.getMessage().contains("'inter_op_threads' applies to CPU sessions"), onCuda.getMessage());
        for (String bad : new String[] {"0", "-1", "two"}) {
            OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                    .withCudaOptions(Map.of(RuntimeOptions.INTER_OP_THREADS, bad)).requireApplicable());
            assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("inter_op_threads must be a thread count >= 1, not '" + bad + "'"),
                    e.getMessage());
        }
    }

    @Test
    void cudaGraphsAreACudaChoiceThatOtherSessionsCanDrop() {
        Map<String, String> given = Map.of(RuntimeOptions.IO_BINDING, "1", RuntimeOptions.CUDA_GRAPH, "1");
        RuntimeOptions cuda = RuntimeOptions.defaults().withDevice(Device.parse("cuda")).withCudaOptions(given);
        assertTrue(cuda.cudaGraph());
        RuntimeOptions uncaptured = cuda.withoutCudaGraph();
        assertEquals(false, uncaptured.cudaGraph(), "evaluation and the separate graphs open without capture");
        assertTrue(uncaptured.ioBinding(), "the rest of the settings stay");
        assertEquals(false, uncaptured.effectiveCudaOptions().containsKey(RuntimeOptions.CUDA_GRAPH));
        OnnxLoraException cpu = assertThrows(OnnxLoraException.class, () -> RuntimeOptions.defaults()
                .withCudaOptions(given).requireApplicable());
        assertEquals(ErrorCode.BAD_ARGUMENT, cpu.code());
        assertTrue(cpu.getMessage().contains("need a CUDA device; this session runs on cpu"), cpu.getMessage());
    }

    @Test
    void ioBindingBeforeJava22IsOneLineNamingTheJavaItNeeds() throws Exception {
        // the Java 22 source set's tests (DeviceFusedStepFfmTest) cover the binding itself; this runs on the build's JDK
        if (Runtime.version().feature() >= BoundSession.REQUIRED_JAVA) {
            assertEquals(BoundSession.IMPLEMENTATION, Class.forName(BoundSession.IMPLEMENTATION).getName(),
                    "a Java 22+ build has the implementation");
            return;
        }
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> BoundSession.open(null, Device.CPU));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("needs Java 22 or newer; this is Java " + Runtime.version().feature()),
                e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
    }

    @Test
    void memoryPatternIsZeroOrOne() {
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.MEMORY_PATTERN, "yes")).memoryPattern());
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
    }

    @Test
    void leanIsTheThreeSettingsAndGivenKeysOverrideIt() {
        RuntimeOptions lean = RuntimeOptions.defaults().withDevice(Device.parse("cuda")).withGpuMemory(GpuMemory.LEAN);
        assertEquals(Map.of("use_tf32", "0", "arena_extend_strategy", "kSameAsRequested"), lean.effectiveCudaOptions());
        assertEquals(Map.of("session.use_device_allocator_for_initializers", "1"), lean.sessionConfigEntries());
        assertEquals(Optional.of(false), lean.memoryPattern());
        RuntimeOptions patterned = lean.withCudaOptions(Map.of(RuntimeOptions.MEMORY_PATTERN, "1"));
        assertEquals(Optional.of(true), patterned.memoryPattern());
        assertEquals(GpuMemory.LEAN, patterned.withThreads(2).gpuMemory(), "withers keep the preset");
        assertEquals(GpuMemory.LEAN, GpuMemory.parse(" Lean "));
    }

    @Test
    void theDefaultIsLeanOnCudaAndNoMemoryPatternOnTheCpu() {
        RuntimeOptions cuda = RuntimeOptions.defaults().withDevice(Device.parse("cuda:1"));
        assertEquals(GpuMemory.AUTO, cuda.gpuMemory());
        assertEquals(GpuMemory.LEAN.settings(), cuda.settings(), "CUDA sessions get the lean settings by default");
        assertEquals(Optional.of(false), cuda.memoryPattern());
        RuntimeOptions cpu = RuntimeOptions.defaults();
        assertEquals(Map.of(RuntimeOptions.MEMORY_PATTERN, "0"), cpu.settings(),
                "the CPU keeps ONNX Runtime's defaults but the memory pattern, whose block the second run first-touches");
        assertEquals(Optional.of(false), cpu.memoryPattern());
        assertEquals(Optional.of(false), cpu.withThreads(2).memoryPattern(), "withers keep the default");
        cpu.requireApplicable();
        assertEquals(Map.of(), cpu.sessionConfigEntries(), "a session option, not a config entry");
        assertEquals(Map.of("use_tf32", "0"), cpu.effectiveCudaOptions(), "nor a provider option");
        assertEquals(Map.of(), cuda.withGpuMemory(GpuMemory.FAST).settings(), "fast opts out");
        assertEquals(Map.of(), cpu.withGpuMemory(GpuMemory.FAST).settings(), "on the CPU too: ONNX Runtime's defaults");
        assertEquals(Optional.empty(), cpu.withGpuMemory(GpuMemory.FAST).memoryPattern());
    }

    @Test
    void theCpuRefusesWhatWouldDoNothingThere() {
        OnnxLoraException preset = assertThrows(OnnxLoraException.class,
                () -> RuntimeOptions.defaults().withGpuMemory(GpuMemory.LEAN).requireApplicable());
        assertEquals(Optional.of(org.onnxlora.Setting.GPU_MEMORY), preset.setting());
        OnnxLoraException provider = assertThrows(OnnxLoraException.class,
                () -> Sessions.options(RuntimeOptions.defaults().withCudaOptions(GIVEN)).close());
        assertEquals(Optional.of(org.onnxlora.Setting.CUDA_OPTIONS), provider.setting());
        RuntimeOptions.defaults().withCudaOptions(Map.of(RuntimeOptions.MEMORY_PATTERN, "0")).requireApplicable();
    }
}
