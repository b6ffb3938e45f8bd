package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.ExportMatrix;
import org.onnxlora.testing.Fixtures;

/**
 * CUDA graphs of several batch shapes can share the fused step's session only where no device kernel stages per-run
 * data in pinned host memory (session 9's bart-base failure: the gradient Concat of 72 pieces), and no CUDA graph
 * replays a kernel that copies from host memory it frees (session 11: GatherND, on every dynamo export). The step
 * graphs of every export of the matrix have neither (both exporters, 3 and 4 inputs, opset 14, extra outputs,
 * static dims, fp16 weights, SDPA attention, an Optimum folder, mBART, Marian); each kind the check knows is found
 * in a graph built to have it; and the flat gradient's concatenation gives the plain Concat's values for counts and
 * sizes of every kind.
 */
class ReplayHazardsTest {

    /** The four 3- and 4-input fixtures and every other export of the matrix (models/exports/manifest.json). */
    static Stream<Path> exports() {
        return Stream.concat(Fixtures.exportsWithFourInputs(), ExportMatrix.all()
                .filter(f -> !f.name().startsWith("tiny-bart-")) // the 4-input fixtures above
                .map(ExportMatrix.Fixture::model));
    }

    @ParameterizedTest
    @MethodSource("exports")
    void theStepGraphsOfEveryExportCanReplayEveryShape(Path model) {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(model);
        GraphProto step = FusedStepGraph.build(a.training(), a.optimizer(), new AdapterLayout(a.adapters())).getGraph();
        assertEquals(List.of(), ReplayHazards.of(step));
    }

    @Test
    void eachKindOfStagingKernelIsFound() {
        GraphProto.Builder g = GraphProto.newBuilder().setName("g");
        for (String in : List.of("a", "b")) {
            g.addInput(Graphs.tensorValue(in, DataType.FLOAT_VALUE, new long[] {-1, 4}, "n", "k"));
        }
        g.addInput(Graphs.tensorValue("c", DataType.FLOAT_VALUE, new long[] {-1, 4}, "m", "k"));
        g.addInput(Graphs.tensorValue("q", DataType.FLOAT_VALUE, new long[] {2, -1, 4, 4}, "", "h", "", ""));
        g.addInput(Graphs.tensorValue("kb", DataType.FLOAT_VALUE, new long[] {2, 1, 4, 4}));
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 33; i++) {
            many.add("a");
        }
        g.addNode(node("Concat", List.of("a", "b"), "equal", Attrs.i("axis", 0)));
        g.addNode(node("Concat", List.of("a", "c"), "unequal", Attrs.i("axis", 0)));
        g.addNode(node("Concat", many, "many", Attrs.i("axis", -1)));
        g.addNode(node("MatMul", List.of("q", "q"), "strided"));
        g.addNode(node("MatMul", List.of("q", "kb"), "broadcast"));
        g.addNode(node("MatMul", List.of("a", "q"), "leftFlat"));
        g.addInitializer(org.onnxlora.io.Tensors.ofLongs("rows", new long[] {2, 1}, 0, 1));
        g.addNode(node("GatherND", List.of("a", "rows"), "gathered"));
        List<ReplayHazards.Hazard> found = ReplayHazards.of(g.build());
        assertEquals(List.of("unequal", "many", "broadcast", "leftFlat", "gathered"),
                found.stream().map(h -> g.getNode(h.node()).getOutput(0)).toList());
        assertTrue(found.get(1).description().contains("33 pieces"), found.get(1).description());
        // only GatherND's copy is unsound for the capturing shape's own replays too
        assertEquals(List.of(false, false, false, false, true),
                found.stream().map(ReplayHazards.Hazard::everyReplay).toList());
    }

    @Test
    void theFlatConcatenationGivesTheConcatsValuesWithoutHazards() throws Exception {
        long[][] cases = {
            {7}, {5, 5, 5}, pieces(32, 6), pieces(33, 4), pieces(37, 3), pieces(72, 16), pieces(1100, 2),
            {3, 5, 8, 1, 13}, {16, 16, 4}};
        for (long[] sizes : cases) {
            GraphBuilder b = new GraphBuilder(new NameGen(new java.util.HashSet<>())).scope("/t");
            GraphProto.Builder g = GraphProto.newBuilder().setName("g");
            List<FlatConcat.Piece> pieces = new ArrayList<>();
            Map<String, float[]> feeds = new HashMap<>();
            Map<String, long[]> shapes = new HashMap<>();
            List<Float> expected = new ArrayList<>();
            for (int i = 0; i < sizes.length; i++) {
                String name = "p" + i;
                g.addInput(Graphs.tensorValue(name, DataType.FLOAT_VALUE, new long[] {sizes[i]}));
                float[] v = new float[(int) sizes[i]];
                for (int k = 0; k < v.length; k++) {
                    v[k] = i * 1000 + k + 0.5f;
                    expected.add(v[k]);
                }
                feeds.put(name, v);
                shapes.put(name, new long[] {sizes[i]});
                pieces.add(new FlatConcat.Piece(name, sizes[i]));
            }
            FlatConcat.emit(b, pieces, "flat");
            g.addAllNode(b.nodes()).addAllInitializer(b.initializers())
                    .addOutput(Graphs.tensorValue("flat", DataType.FLOAT_VALUE, new long[] {expected.size()}));
            String label = sizes.length + " pieces of " + java.util.Arrays.toString(
                    java.util.Arrays.copyOf(sizes, Math.min(sizes.length, 5)));
            assertEquals(List.of(), ReplayHazards.of(g.build()), label);
            // ORT's CUDA Concat fills a host table with an entry per index of the concatenated axis at every run:
            // that axis counts pieces (rows, with at most 31 zero rows of padding), never elements
            GraphProto built = g.build();
            org.onnxlora.graph.shape.SymbolicShapes inferred = org.onnxlora.graph.shape.SymbolicShapes.infer(built);
            for (NodeProto n : built.getNodeList()) {
                if (n.getOpType().equals("Concat")) {
                    long axisLength = inferred.constantDims(n.getOutput(0))[0];
                    assertTrue(axisLength <= sizes.length + 31, label + ": a Concat along " + axisLength + " indices");
                }
            }
            ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                    .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17)).build();
            float[] got = PassOrt.runMany(m, feeds, shapes, "flat");
            float[] want = new float[expected.size()];
            for (int i = 0; i < want.length; i++) {
                want[i] = expected.get(i);
            }
            assertArrayEquals(want, got, label);
            // a Reshape per piece, and per merge at most three nodes (Pad, Pad, Add) or a share of a Concat
            assertTrue(b.nodes().size() <= 4 * sizes.length, label + ": " + b.nodes().size() + " nodes");
        }
    }

    private static long[] pieces(int count, long size) {
        long[] s = new long[count];
        java.util.Arrays.fill(s, size);
        return s;
    }

    private static NodeProto node(String op, List<String> in, String out, org.onnxlora.proto.Onnx.AttributeProto... a) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(out).addAllInput(in).addOutput(out);
        for (var attr : a) {
            n.addAttribute(attr);
        }
        return n.build();
    }
}
