package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.autodiff.AttentionRecompute;
import org.onnxlora.autodiff.Recompute;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.run.LossScaleState;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.testing.Fixtures;

/**
 * {@code --recompute attention}: the backward reads recomputed attention probabilities, so no forward
 * softmax output outlives the forward; the step's loss and gradients are the ones without it (and
 * PyTorch's), and ONNX Runtime neither merges the copies back into the forward nor runs them early.
 */
class AttentionRecomputeTest {
    /** Tiny BART: 2 encoder self-attentions, 2 decoder self- and 2 cross-attentions. */
    private static final int ATTENTIONS = 6;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() throws Exception {
        TrainingParityTest.gold = new Goldens();
    }

    @AfterAll
    static void close() {
        TrainingParityTest.gold.close();
    }

    static TrainingCompiler.Artifacts compiled(Path model, Precision p, Recompute r) {
        TrainingCompiler.Options opts = new TrainingCompiler.Options(LossConfig.DEFAULT,
                TrainingParityTest.gold.optimizerConfig(), "logits", p, r);
        return new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model), opts);
    }

    static Path written(TrainingCompiler.Artifacts art, String tag) {
        Path dir = tmp.resolve(tag);
        ArtifactStore.write(art, TrainingCompiler.Options.defaults(), dir);
        return dir;
    }

    static Stream<Arguments> exportersAndPrecisions() {
        return Fixtures.bothExporters().flatMap(m -> Stream.of(Precision.FP32, Precision.BF16, Precision.FP16)
                .map(p -> Arguments.of(m, p)));
    }

    private static boolean isGradient(NodeProto n) {
        return n.getName().startsWith("/grad/");
    }

    /** Outputs of the forward's softmaxes that a gradient node reads. */
    private static List<String> keptProbabilities(GraphProto g) {
        Set<String> forwardSoftmax = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            if (n.getOpType().equals("Softmax") && !isGradient(n)) {
                forwardSoftmax.add(n.getOutput(0));
            }
        }
        List<String> kept = new ArrayList<>();
        for (NodeProto n : g.getNodeList()) {
            if (isGradient(n)) {
                n.getInputList().stream().filter(forwardSoftmax::contains).forEach(kept::add);
            }
        }
        return kept;
    }

    @ParameterizedTest
    @MethodSource("exportersAndPrecisions")
    void noForwardSoftmaxOutputIsReadByTheBackward(Path model, Precision p) {
        GraphProto plain = compiled(model, p, Recompute.NONE).training().getGraph();
        assertEquals(ATTENTIONS, new HashSet<>(keptProbabilities(plain)).size(),
                "without recomputation the backward reads every attention softmax");
        GraphProto g = compiled(model, p, Recompute.ATTENTION).training().getGraph();
        assertEquals(List.of(), keptProbabilities(g), model.getFileName() + " " + p.label());
        long copies = g.getNodeList().stream().filter(n -> n.getOpType().equals("Softmax")
                && n.getName().startsWith(AttentionRecompute.SCOPE)).count();
        assertEquals(ATTENTIONS, copies);
        // with the casts of half precision, nothing derived from the probabilities is kept either
        Set<String> derived = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            if (!isGradient(n) && (n.getOpType().equals("Softmax")
                    || (Set.of("Cast", "Reshape").contains(n.getOpType()) && derived.contains(n.getInput(0))))) {
                derived.add(n.getOutput(0));
            }
        }
        for (NodeProto n : g.getNodeList()) {
            if (isGradient(n)) {
                for (String in : n.getInputList()) {
                    assertTrue(!derived.contains(in), n.getName() + " reads forward value " + in);
                }
            }
        }
        org.onnxlora.graph.ModelValidator.check(compiled(model, p, Recompute.ATTENTION).training(), "training");
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#exportsWithFourInputs")
    void sameStepWithAndWithoutAndAsPyTorch(Path model) {
        String tag = model.getFileName().toString();
        Path plain = written(compiled(model, Precision.FP32, Recompute.NONE), tag + "-plain");
        Path recomputed = written(compiled(model, Precision.FP32, Recompute.ATTENTION), tag + "-recompute");
        Goldens gold = TrainingParityTest.gold;
        try (TrainingSession a = new TrainingSession(plain, RuntimeOptions.defaults().withThreads(2));
                TrainingSession b = new TrainingSession(recomputed, RuntimeOptions.defaults().withThreads(2))) {
            TrainingSession.Pass pa = a.forwardBackward(TrainingParityTest.goldenBatch());
            TrainingSession.Pass pb = b.forwardBackward(TrainingParityTest.goldenBatch());
            assertEquals(pa.meanLoss(), pb.meanLoss(), 1e-6 * Math.abs(pa.meanLoss()));
            double ref = gold.step(1).get("loss").getAsDouble();
            assertTrue(Math.abs(pb.meanLoss() - ref) <= 1e-5 * Math.abs(ref), "loss vs PyTorch");
            for (String name : gold.adapters) {
                float[] ga = a.accumulatedGradient(name);
                float[] gb = b.accumulatedGradient(name);
                double err = Goldens.relErr(gb, ga);
                assertTrue(err <= 1e-6, tag + " gradient of " + name + " with recomputation: relative error " + err);
                for (int i = 0; i < gb.length; i++) {
                    gb[i] /= (float) pb.tokens();
                }
                double torch = Goldens.relErr(gb, gold.get("step1/grad/" + name));
                assertTrue(torch <= 1e-4, tag + " gradient of " + name + " vs PyTorch: relative error " + torch);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void onnxRuntimeKeepsTheCopies(Path model) {
        Path dir = written(compiled(model, Precision.FP32, Recompute.ATTENTION), model.getFileName() + "-opt");
        Path out = dir.resolve("optimized.onnx");
        TrainingSession.writeOptimizedTrainingGraph(dir, RuntimeOptions.defaults().withThreads(1), out);
        long softmax = ModelIO.load(out).getGraph().getNodeList().stream()
                .filter(n -> n.getOpType().equals("Softmax")).count();
        assertEquals(2 * ATTENTIONS, softmax, "common subexpression elimination merged a copy into the forward");
    }

    /**
     * The copies run in the backward, one at a time: each after the loss's log-softmax, and none right after another (a
     * backward node that is not a copy runs between two), in the order ONNX Runtime actually executes (its profile).
     */
    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void copiesRunLateInTheBackward(Path model) throws Exception {
        Path dir = written(compiled(model, Precision.FP32, Recompute.ATTENTION), model.getFileName() + "-order");
        List<String> order = new ArrayList<>();
        try (TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(1)
                .withProfilePrefix(dir.resolve("profile")))) {
            s.forwardBackward(TrainingParityTest.goldenBatch());
            Path profile = s.endProfiling().get(0);
            for (var e : com.google.gson.JsonParser.parseString(java.nio.file.Files.readString(profile))
                    .getAsJsonArray()) {
                var o = e.getAsJsonObject();
                String name = o.get("name").getAsString();
                if (o.get("cat").getAsString().equals("Node") && name.endsWith("_kernel_time")) {
                    order.add(name.substring(0, name.length() - "_kernel_time".length()));
                }
            }
        }
        // the backward needs the loss's log-probabilities (dlogits = p - onehot): nothing of it can run before
        int backward = -1;
        for (int i = 0; i < order.size(); i++) {
            if (order.get(i).startsWith("/loss/") && order.get(i).contains("LogSoftmax")) {
                backward = i;
            }
        }
        assertTrue(backward > 0, "no loss LogSoftmax in the profile: " + order);
        int copies = 0;
        int lastCopy = -1;
        for (int i = 0; i < order.size(); i++) {
            String n = order.get(i);
            if (!n.startsWith(AttentionRecompute.SCOPE) || !n.endsWith("/Softmax")) {
                continue;
            }
            copies++;
            assertTrue(i > backward, n + " ran before the backward, at " + i + " of " + order.size() + "; backward from "
                    + backward);
            if (lastCopy >= 0) {
                boolean between = order.subList(lastCopy + 1, i).stream()
                        .anyMatch(m -> m.startsWith("/grad/") && !m.startsWith(AttentionRecompute.SCOPE));
                assertTrue(between, n + " ran right after the previous copy: " + order.subList(lastCopy, i + 1));
            }
            lastCopy = i;
        }
        assertEquals(ATTENTIONS, copies, "copies in the profile");
    }

    /** fp16 on the CPU with recomputation: the step of HalfPrecisionParityTest against PyTorch autocast still holds. */
    @Test
    void fp16StepWithRecomputationMatchesPyTorchAutocast() {
        Path dir = written(compiled(Fixtures.torchscript(), Precision.FP16, Recompute.ATTENTION), "fp16-recompute");
        try (SafetensorsFile half = SafetensorsFile.open(Fixtures.goldens().resolve("halfprec_step.safetensors"));
                TrainingSession s = new TrainingSession(dir, RuntimeOptions.defaults().withThreads(2))) {
            s.lossScaler().orElseThrow().restore(new LossScaleState(1024, 0, 1));
            TrainingSession.Pass pass = s.forwardBackward(TrainingParityTest.goldenBatch());
            double ref = half.floats("fp16/loss")[0];
            assertTrue(Math.abs(pass.meanLoss() - ref) <= 1e-2 * Math.abs(ref), "loss " + pass.meanLoss() + " vs " + ref);
            for (String a : TrainingParityTest.gold.adapters) {
                float[] g = s.accumulatedGradient(a);
                for (int i = 0; i < g.length; i++) {
                    g[i] /= 1024f;
                }
                double err = Goldens.relErr(g, half.floats("fp16/grad/" + a));
                assertTrue(err <= 5e-2, "fp16 gradient of " + a + " with recomputation: relative error " + err);
            }
        }
    }
}
