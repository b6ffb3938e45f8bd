package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.data.Batch;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.ExportVariants;
import org.onnxlora.testing.Fixtures;

/**
 * The fused step (training graph + AdamW in one graph, one session) against the separate training and
 * optimizer sessions on the tiny fixture: the same adapters, moments, losses and gradient norms to the
 * bit, with a changing learning rate and clipping active, through fp16 skipped steps, a batch a
 * static-shape export cuts into pieces, and artifacts written before the step model.
 */
@ExtendWith(TrainingGoldens.class)
class FusedStepTest {
    /** Small enough that every step of these tests clips (asserted). */
    private static final OptimizerConfig CLIPPING = new OptimizerConfig(0.9, 0.999, 1e-8, 0.01, 1e-3);
    private static final int STEPS = 6;

    @TempDir
    static Path tmp;

    private static TrainingCompiler.Options options(Precision p) {
        return new TrainingCompiler.Options(LossConfig.DEFAULT, CLIPPING, "logits", p);
    }

    private static TrainingCompiler.Artifacts compiled(Path model, Precision p) {
        return new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model), options(p));
    }

    private static Path written(Path model, Precision p, String tag) {
        Path dir = tmp.resolve(tag);
        ArtifactStore.write(compiled(model, p), options(p), dir);
        return dir;
    }

    private static RuntimeOptions cpu() {
        return RuntimeOptions.defaults().withThreads(2);
    }

    @Test
    void theStepGraphHasTheOptimizersOutputsAndNoGradients() {
        TrainingCompiler.Artifacts a = compiled(Fixtures.torchscript(), Precision.FP32);
        AdapterLayout layout = new AdapterLayout(a.adapters());
        GraphProto g = FusedStepGraph.build(a.training(), a.optimizer(), layout).getGraph();
        List<String> outputs = g.getOutputList().stream().map(ValueInfoProto::getName).toList();
        assertEquals(List.of(TrainingCompiler.LOSS_SUM, TrainingCompiler.TOKEN_COUNT,
                AdapterSpec.updated(OptimizerGraph.PARAMS), AdapterSpec.updated(OptimizerGraph.EXP_AVG),
                AdapterSpec.updated(OptimizerGraph.EXP_AVG_SQ), OptimizerGraph.GRAD_NORM), outputs);
        assertTrue(a.training().getGraph().getOutputList().stream().anyMatch(o -> o.getName().startsWith("grad.")));
        int training = a.training().getGraph().getNodeCount();
        int glue = g.getNodeCount() - training - a.optimizer().getGraph().getNodeCount();
        // a Reshape per adapter (to a row), the flat gradient's Concats (one per 32 rows and one over them), a
        // Reshape of the rows to the flat gradient, five for the scale
        int concats = (a.adapters().size() + ReplayHazards.BY_VALUE - 1) / ReplayHazards.BY_VALUE + 1;
        assertTrue(glue > a.adapters().size() + 5 && glue <= a.adapters().size() + concats + 6, "glue nodes: " + glue);
        List<String> inputs = g.getInputList().stream().map(ValueInfoProto::getName).toList();
        List<String> expected = new ArrayList<>(a.training().getGraph().getInputList().stream()
                .map(ValueInfoProto::getName).toList());
        expected.addAll(List.of(OptimizerGraph.PARAMS, OptimizerGraph.EXP_AVG, OptimizerGraph.EXP_AVG_SQ,
                OptimizerGraph.LR, OptimizerGraph.STEP, FusedStepGraph.SEED_SCALE));
        assertEquals(expected, inputs);
        // the training nodes come first, unchanged
        assertEquals(a.training().getGraph().getNodeList(), g.getNodeList().subList(0,
                a.training().getGraph().getNodeCount()));
        assertTrue(g.getNodeList().subList(training, training + glue).stream()
                .allMatch(n -> n.getName().startsWith("/fused/")), "the glue comes next");
        assertTrue(g.getNodeList().stream().skip(training + glue)
                .allMatch(n -> n.getName().startsWith(FusedStepGraph.PREFIX)), "optimizer nodes are prefixed");
    }

    @Test
    void aNameBothGraphsUseIsRefused() {
        TrainingCompiler.Artifacts a = compiled(Fixtures.torchscript(), Precision.FP32);
        AdapterLayout layout = new AdapterLayout(a.adapters());
        ModelProto withLr = a.training().toBuilder().setGraph(a.training().getGraph().toBuilder()
                .addInput(Graphs.tensorValue(OptimizerGraph.LR, 11, new long[0]))).build();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> FusedStepGraph.build(withLr, a.optimizer(), layout));
        assertTrue(e.getMessage().contains("'" + OptimizerGraph.LR + "'"), e.getMessage());
        String internal = FusedStepGraph.PREFIX + a.optimizer().getGraph().getNode(0).getOutput(0);
        ModelProto withPrefixed = a.training().toBuilder().setGraph(a.training().getGraph().toBuilder()
                .addValueInfo(Graphs.tensorValue(internal, 1, new long[0]))).build();
        e = assertThrows(IllegalStateException.class, () -> FusedStepGraph.build(withPrefixed, a.optimizer(), layout));
        assertTrue(e.getMessage().contains("'" + internal + "'"), e.getMessage());
    }

    @Test
    void aTrainingGraphBelowOpset13IsRefused() {
        TrainingCompiler.Artifacts a = compiled(Fixtures.torchscript(), Precision.FP32);
        ModelProto.Builder old = a.training().toBuilder().clearOpsetImport();
        a.training().getOpsetImportList().forEach(o -> old.addOpsetImport(
                o.getDomain().isEmpty() ? o.toBuilder().setVersion(12).build() : o));
        assertThrows(IllegalStateException.class,
                () -> FusedStepGraph.build(old.build(), a.optimizer(), new AdapterLayout(a.adapters())));
    }

    /** What a run of steps leaves: per step loss, tokens and norm, then every adapter and moment. */
    private record Trace(List<double[]> steps, List<float[]> state, long step, String scaler) {}

    private static Trace train(Path dir, TrainingSession.StepMode mode, Batch batch, List<String> graphs) {
        try (TrainingSession s = new TrainingSession(dir, cpu(), mode)) {
            List<double[]> steps = new ArrayList<>();
            for (int k = 1; k <= STEPS; k++) {
                // a changing learning rate: warm-up, then decay
                double lr = k <= 2 ? 0.02 * k : 0.04 / (k - 1);
                TrainingSession.Step st = s.step(batch, lr);
                steps.add(new double[] {st.pass().lossSum(), st.pass().tokens(), st.gradNorm(), s.step()});
            }
            if (graphs != null) {
                assertEquals(graphs, s.openGraphs());
            }
            return new Trace(steps, stateOf(s), s.step(), s.lossScaler().map(l -> l.state().toString()).orElse(""));
        }
    }

    private static List<float[]> stateOf(TrainingSession s) {
        List<float[]> out = new ArrayList<>();
        for (AdapterSpec a : s.adapters()) {
            out.add(s.adapter(a.name()));
            out.add(s.expAvg(a.name()));
            out.add(s.expAvgSq(a.name()));
        }
        return out;
    }

    private static void assertSame(Trace want, Trace got) {
        assertEquals(want.steps().size(), got.steps().size());
        for (int i = 0; i < want.steps().size(); i++) {
            assertArrayEquals(want.steps().get(i), got.steps().get(i), 0.0, "loss, tokens, norm, step at step " + (i + 1));
        }
        for (int i = 0; i < want.state().size(); i++) {
            assertArrayEquals(want.state().get(i), got.state().get(i), "adapter/moment " + i);
        }
        assertEquals(want.step(), got.step());
        assertEquals(want.scaler(), got.scaler());
    }

    /**
     * Both exporters: the torchscript export imports opset 17 like the optimizer, the dynamo export 18, under
     * which the optimizer's nodes run in the step graph.
     */
    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void fusedStepsEqualSeparateStepsToTheBit(Path model) {
        Path dir = written(model, Precision.FP32, "fp32-" + model.getFileName());
        Batch batch = TrainingParityTest.goldenBatch();
        Trace separate = train(dir, TrainingSession.StepMode.SEPARATE, batch, List.of("training", "optimizer"));
        Trace fused = train(dir, TrainingSession.StepMode.FUSED, batch, List.of("step"));
        for (double[] s : separate.steps()) {
            assertTrue(s[2] > CLIPPING.maxGradNorm() * 10, "clipping is active: norm " + s[2]);
        }
        assertFalse(java.util.Arrays.equals(separate.state().get(0), stateOf0(dir)), "the adapters moved");
        assertSame(separate, fused);
        ModelProto step = ModelIO.load(dir.resolve(ArtifactStore.STEP));
        assertEquals(ModelIO.load(dir.resolve(ArtifactStore.TRAINING)).getOpsetImportList(), step.getOpsetImportList());
    }

    private static float[] stateOf0(Path dir) {
        try (TrainingSession s = new TrainingSession(dir, cpu())) {
            return s.adapter(s.adapters().get(0).name());
        }
    }

    @Test
    void fp16SkippedStepsMatchTheSeparateStep() {
        // GradScaler's 65536 overflows this batch's float16 gradients: the first steps are skipped and back off
        Path dir = written(Fixtures.torchscript(), Precision.FP16, "fp16");
        Batch batch = TrainingParityTest.goldenBatch();
        Trace separate = train(dir, TrainingSession.StepMode.SEPARATE, batch, null);
        Trace fused = train(dir, TrainingSession.StepMode.FUSED, batch, List.of("step"));
        assertTrue(Double.isNaN(separate.steps().get(0)[2]) || Double.isInfinite(separate.steps().get(0)[2]),
                "the first step overflows");
        assertEquals(0, separate.steps().get(0)[3], "and is skipped");
        assertTrue(separate.step() > 0 && separate.step() < STEPS, "some kept, some skipped: " + separate.step());
        assertSame(separate, fused);
        try (TrainingSession s = new TrainingSession(dir, cpu(), TrainingSession.StepMode.FUSED)) {
            List<float[]> before = stateOf(s);
            TrainingSession.Step st = s.step(batch, 1e-2);
            assertFalse(Double.isFinite(st.gradNorm()));
            assertEquals(0, s.step());
            assertEquals(new org.onnxlora.run.LossScaleState(32768, 0, 1), s.lossScaler().orElseThrow().state());
            List<float[]> after = stateOf(s);
            for (int i = 0; i < before.size(); i++) {
                assertArrayEquals(before.get(i), after.get(i), "a skipped step leaves the state");
            }
        }
    }

    @Test
    void aBatchCutIntoPiecesOpensTheSeparatePairAndStepsAlike() throws Exception {
        Batch batch = TrainingParityTest.goldenBatch();
        assertTrue(batch.size() > 1);
        Path fixed = tmp.resolve("fixed.onnx");
        ModelIO.save(ExportVariants.fixedShapes(ModelIO.load(Fixtures.torchscript()), 1, batch.sourceLength(),
                batch.targetLength()), fixed);
        Path dir = written(fixed, Precision.FP32, "static");
        Trace separate = train(dir, TrainingSession.StepMode.SEPARATE, batch, List.of("training", "optimizer"));
        Trace fused = train(dir, TrainingSession.StepMode.FUSED, batch, List.of("step", "training", "optimizer"));
        assertSame(separate, fused);
    }

    @Test
    void evaluationAddsOnlyTheEvalSession() {
        Path dir = written(Fixtures.torchscript(), Precision.FP32, "eval");
        try (TrainingSession s = new TrainingSession(dir, cpu(), TrainingSession.StepMode.FUSED)) {
            assertEquals(List.of("step"), s.openGraphs());
            s.step(TrainingParityTest.goldenBatch(), 1e-3);
            assertTrue(s.evaluate(TrainingParityTest.goldenBatch()).tokens() > 0);
            assertEquals(List.of("step", "eval"), s.openGraphs());
        }
    }

    @Test
    void artifactsWithoutTheStepModelTrainWithTheSeparatePair() throws Exception {
        Path fresh = written(Fixtures.torchscript(), Precision.FP32, "fresh");
        assertTrue(Files.exists(fresh.resolve(ArtifactStore.STEP)));
        Path old = tmp.resolve("format2");
        Files.createDirectories(old);
        try (var files = Files.list(fresh)) {
            for (Path p : files.toList()) {
                if (!p.getFileName().toString().equals(ArtifactStore.STEP)) {
                    Files.copy(p, old.resolve(p.getFileName()));
                }
            }
        }
        Path manifest = old.resolve(ArtifactStore.MANIFEST);
        Files.writeString(manifest, Files.readString(manifest).replace("\"format\": " + ArtifactStore.FORMAT,
                "\"format\": 2"));
        Batch batch = TrainingParityTest.goldenBatch();
        Trace fused = train(fresh, TrainingSession.StepMode.FUSED, batch, List.of("step"));
        Trace unfused = train(old, TrainingSession.StepMode.FUSED, batch, List.of("training", "optimizer"));
        assertSame(unfused, fused);
    }
}
