package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/**
 * The fused step through IO binding ({@link DeviceFusedStep}, ONNX Runtime's C API through Java's foreign-function
 * interface), on the CPU: the same session kernels on the same values, so every step and the final state agree with
 * the Java API's step to the bit, through batch-shape changes (a binding per shape), host reads between steps (the
 * device state pulled) and host writes (pushed before the next step).
 */
class DeviceFusedStepFfmTest {
    @TempDir
    static Path tmp;

    private static final RuntimeOptions HOST = RuntimeOptions.defaults().withThreads(2);
    private static final RuntimeOptions BOUND = HOST.withCudaOptions(Map.of(RuntimeOptions.IO_BINDING, "1"));

    private static Path artifacts;

    @BeforeAll
    static void compile() {
        artifacts = BitwiseSteps.compiledWithRandomAdapters(Fixtures.bothExporters().findFirst().orElseThrow(),
                tmp.resolve("art"));
    }

    private static List<Batch> batches() {
        return List.of(BitwiseSteps.randomBatch(4, 8, 6, 4), BitwiseSteps.randomBatch(4, 8, 6, 5),
                BitwiseSteps.randomBatch(3, 11, 5, 1), BitwiseSteps.randomBatch(4, 8, 6, 6),
                BitwiseSteps.randomBatch(3, 11, 5, 2));
    }

    @Test
    void stepsOnDeviceResidentStateEqualTheJavaApiStepsToTheBit() {
        BitwiseSteps.assertSameToTheBit(BitwiseSteps.train(artifacts, HOST, batches()),
                BitwiseSteps.train(artifacts, BOUND, batches()), batches().size());
    }

    @Test
    void cudaGraphsWithoutTheBoundFusedStepAreOneLine() {
        // refused before any session opens, so no GPU is needed to see it
        RuntimeOptions graphs = HOST.withDevice(Device.parse("cuda"))
                .withCudaOptions(Map.of(RuntimeOptions.CUDA_GRAPH, "1"));
        OnnxLoraException e = assertThrows(
                OnnxLoraException.class, () -> new TrainingSession(artifacts, graphs,
                        TrainingSession.StepMode.FUSED).close());
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("give io_binding=1 too"), e.getMessage());
    }

    @Test
    void aStepGraphThatNoCudaGraphReplaysIsOneLineBeforeAnySession() throws Exception {
        // artifacts as an older compiler wrote them for a dynamo export: a GatherND on the device, whose CUDA kernel
        // copies from host memory it frees; the refusal comes before any session opens, so no GPU is needed to see it
        Path old = tmp.resolve("old-art");
        try (var files = java.nio.file.Files.list(artifacts)) {
            java.nio.file.Files.createDirectories(old);
            for (Path f : files.toList()) {
                java.nio.file.Files.copy(f, old.resolve(f.getFileName()));
            }
        }
        Path stepFile = old.resolve(ArtifactStore.STEP);
        org.onnxlora.proto.Onnx.ModelProto step = org.onnxlora.io.ModelIO.load(stepFile);
        String normed = step.getGraph().getNodeList().stream().filter(n -> n.getOpType().equals("LayerNormalization"))
                .findFirst().orElseThrow().getOutput(0);
        org.onnxlora.proto.Onnx.GraphProto g = step.getGraph().toBuilder()
                .addInitializer(org.onnxlora.io.Tensors.ofLongs("first_row", new long[] {1, 1}, 0))
                .addNode(org.onnxlora.proto.Onnx.NodeProto.newBuilder().setOpType("GatherND").setName("old_gathernd")
                        .addInput(normed).addInput("first_row").addOutput("old_gathered"))
                .build();
        java.nio.file.Files.write(stepFile, step.toBuilder().setGraph(g).build().toByteArray());
        RuntimeOptions graphs = HOST.withDevice(Device.parse("cuda")).withCudaOptions(
                Map.of(RuntimeOptions.IO_BINDING, "1", RuntimeOptions.CUDA_GRAPH, "1"));
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> new TrainingSession(old, graphs, TrainingSession.StepMode.FUSED).close());
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("'old_gathernd' (GatherND)") && e.getMessage().contains(
                "recompile the artifacts with this version"), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }

    @Test
    void withAReplayHazardASecondBatchShapeIsRefusedBeforeItRuns() throws Exception {
        // the guard is the binding's, so a CPU session shows it: a kernel staging per-run data in pinned memory would
        // make graphs of several shapes in one session read each other's data
        TrainingCompiler.Artifacts a = ArtifactStore.read(artifacts);
        AdapterLayout layout = new AdapterLayout(a.adapters());
        OrtEnvironment env = Sessions.env();
        TrainingFeeds feeds = new TrainingFeeds(env, TrainingSession.signatureOf(a));
        try (OrtSession session = Sessions.create(
                        ArtifactStore.stepModel(artifacts).orElseThrow(), HOST);
                AdapterState state = new AdapterState(env, layout);
                DeviceFusedStep step = new DeviceFusedStep(env, session, Device.CPU, layout,
                        new ReplayHazards.Hazard(0, "node 'c' (Concat): a test's hazard", false));
                OnnxTensor loss = PinnedScalar.create(env);
                OnnxTensor tokens = PinnedScalar.create(env)) {
            List<Batch> b = batches();
            for (int i = 0; i < 2; i++) {
                run(step, feeds, b.get(i), state, i + 1, loss, tokens);
            }
            OnnxLoraException e = assertThrows(
                    OnnxLoraException.class, () -> run(step, feeds, b.get(2), state, 3, loss, tokens));
            assertEquals(ErrorCode.BAD_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("must have the first one's shape (node 'c' (Concat): a test's hazard"),
                    e.getMessage());
            run(step, feeds, b.get(3), state, 3, loss, tokens); // the first shape still runs
        }
    }

    private static void run(DeviceFusedStep step, TrainingFeeds feeds, Batch batch, AdapterState state, long n,
            OnnxTensor loss, OnnxTensor tokens) throws Exception {
        Map<String, OnnxTensor> in = new HashMap<>();
        List<OnnxTensor> owned = feeds.add(batch, in);
        try {
            step.run(in, state, n, 0.01, 1, loss, tokens);
            state.advance();
        } finally {
            owned.forEach(OnnxTensor::close);
        }
    }

    @Test
    void hostReadsAndWritesBetweenStepsReachTheDeviceState() {
        BiConsumer<TrainingSession, Integer> meddle = (s, i) -> {
            AdapterSpec first = s.adapters().get(0);
            if (i == 1) {
                // a read mid-run (a checkpoint), then a write of what was read, scaled (a broadcast)
                float[] v = s.adapter(first.name());
                for (int j = 0; j < v.length; j++) {
                    v[j] *= 0.5f;
                }
                s.setAdapter(first.name(), v);
            }
            if (i == 3) {
                // a resume: every adapter and moment replaced at once
                Map<String, float[]> a = new java.util.HashMap<>();
                Map<String, float[]> m = new java.util.HashMap<>();
                Map<String, float[]> v = new java.util.HashMap<>();
                for (AdapterSpec spec : s.adapters()) {
                    a.put(spec.name(), s.adapter(spec.name()));
                    m.put(spec.name(), s.expAvg(spec.name()));
                    float[] sq = s.expAvgSq(spec.name());
                    for (int j = 0; j < sq.length; j++) {
                        sq[j] *= 2f;
                    }
                    v.put(spec.name(), sq);
                }
                s.setState(s.step(), AdapterValues.of(a), AdapterValues.of(m), AdapterValues.of(v));
            }
        };
        BitwiseSteps.assertSameToTheBit(BitwiseSteps.train(artifacts, HOST, batches(), meddle),
                BitwiseSteps.train(artifacts, BOUND, batches(), meddle), batches().size());
    }
}
