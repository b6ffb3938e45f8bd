package org.onnxlora.synth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * The tiny preset has the fixture's dimensions, so its graph must look like the real
 * TorchScript export {@code models/tiny-bart/model.onnx} wherever onnx-lora looks:
 * parameter names and shapes, projection nodes and their weights, attention op sequence.
 */
class SyntheticBartStructureTest {
    private static final Path FIXTURE = Path.of("models/tiny-bart/model.onnx");
    private static final Pattern ANONYMOUS_MATMUL = Pattern.compile("onnx::MatMul_\\d+");
    /** Shape arithmetic, where the synthetic graph is allowed to differ from the exporter. */
    private static final List<String> SHAPE_OPS = List.of("Constant", "Shape", "Gather", "Unsqueeze", "Concat",
            "Cast", "Range", "Expand", "Equal", "Where", "ConstantOfShape", "Flatten", "And", "LessOrEqual",
            "GreaterOrEqual");

    private static GraphProto real;
    private static GraphProto synth;

    @BeforeAll
    static void load() {
        real = ModelIO.load(FIXTURE).getGraph();
        synth = SyntheticBart.generate(BartShape.tiny(), 0).getGraph();
    }

    private static Map<String, List<Long>> namedParameters(GraphProto g) {
        return g.getInitializerList().stream().filter(t -> t.getName().startsWith("model."))
                .collect(Collectors.toMap(TensorProto::getName, TensorProto::getDimsList, (a, b) -> a, TreeMap::new));
    }

    private static Map<String, TensorProto> initializers(GraphProto g) {
        return g.getInitializerList().stream().collect(Collectors.toMap(TensorProto::getName, t -> t));
    }

    /** Node name → op type, weight shape where input 1 is an initializer, for the nodes that pass {@code keep}. */
    private static Map<String, String> signature(GraphProto g, Predicate<NodeProto> keep) {
        Map<String, TensorProto> inits = initializers(g);
        Map<String, String> out = new TreeMap<>();
        for (NodeProto n : g.getNodeList()) {
            if (!keep.test(n)) {
                continue;
            }
            String sig = n.getOpType();
            for (String in : n.getInputList()) {
                TensorProto t = inits.get(in);
                if (t != null) {
                    sig += " " + (ANONYMOUS_MATMUL.matcher(in).matches() ? "<anon>" : in) + t.getDimsList();
                }
            }
            out.put(n.getName(), sig);
        }
        return out;
    }

    @Test
    void namedParametersMatchTheFixture() {
        assertEquals(namedParameters(real), namedParameters(synth));
        assertEquals(real.getInitializerList().stream().filter(t -> t.getName().startsWith("model."))
                        .map(TensorProto::getName).toList(),
                synth.getInitializerList().stream().filter(t -> t.getName().startsWith("model."))
                        .map(TensorProto::getName).toList(),
                "state_dict order");
    }

    @Test
    void computeNodesMatchTheFixture() {
        Predicate<NodeProto> compute = n -> List.of("MatMul", "LayerNormalization", "Softmax", "Erf", "Div")
                .contains(n.getOpType());
        Map<String, String> expected = signature(real, compute);
        assertEquals(45 + 12 + 6 + 4 + 4, expected.size());
        assertEquals(expected, signature(synth, compute));
    }

    @Test
    void projectionBiasAddsMatchTheFixture() {
        Predicate<NodeProto> biasAdd = n -> n.getOpType().equals("Add") && n.getInput(0).startsWith("model.");
        Map<String, String> expected = signature(real, biasAdd);
        assertEquals(expected, signature(synth, biasAdd));
        assertEquals(4 * 2 + 2 * 2 + 8 * 2 + 2 * 2, expected.size());
    }

    @Test
    void attentionBlocksHaveTheExportersOpSequence() {
        for (String scope : List.of("/model/encoder/layers.0/self_attn/", "/model/decoder/layers.1/self_attn/",
                "/model/decoder/layers.1/encoder_attn/")) {
            assertEquals(computeSequence(real, scope), computeSequence(synth, scope), scope);
        }
        List<String> seq = computeSequence(synth, "/model/encoder/layers.0/self_attn/");
        assertTrue(seq.contains("q_proj/MatMul:MatMul") && seq.contains("Softmax:Softmax"), seq.toString());
    }

    /** The non-shape nodes of one scope, in graph order, as "relative name:op" (e.g. {@code q_proj/MatMul:MatMul}). */
    private static List<String> computeSequence(GraphProto g, String scope) {
        return g.getNodeList().stream()
                .filter(n -> n.getName().startsWith(scope) && !SHAPE_OPS.contains(n.getOpType()))
                .map(n -> n.getName().substring(scope.length()) + ":" + n.getOpType())
                .toList();
    }

    @Test
    void projectionWeightsAreAnonymousInOutInitializers() {
        Map<String, TensorProto> inits = initializers(synth);
        NodeProto q = synth.getNodeList().stream()
                .filter(n -> n.getName().equals("/model/encoder/layers.0/self_attn/q_proj/MatMul")).findFirst()
                .orElseThrow();
        assertTrue(ANONYMOUS_MATMUL.matcher(q.getInput(1)).matches(), q.getInput(1));
        assertEquals(List.of(64L, 64L), inits.get(q.getInput(1)).getDimsList());
        NodeProto fc1 = synth.getNodeList().stream()
                .filter(n -> n.getName().equals("/model/decoder/layers.1/fc1/MatMul")).findFirst().orElseThrow();
        assertEquals(List.of(64L, 256L), inits.get(fc1.getInput(1)).getDimsList(), "[in, out]");
    }

    @Test
    void lmHeadIsTheTransposedSharedEmbeddingPlusABias() {
        Map<String, TensorProto> inits = initializers(synth);
        NodeProto head = synth.getNodeList().stream().filter(n -> n.getName().equals("/lm_head/MatMul"))
                .findFirst().orElseThrow();
        float[] lm = Tensors.toFloats(inits.get(head.getInput(1)));
        float[] shared = Tensors.toFloats(inits.get("model.shared.weight"));
        int vocab = 2048;
        int d = 64;
        for (int[] rc : new int[][] {{0, 0}, {5, 17}, {2047, 63}, {1000, 1}}) {
            assertEquals(shared[rc[0] * d + rc[1]], lm[rc[1] * vocab + rc[0]], 0f);
        }
        NodeProto add = synth.getNode(synth.getNodeCount() - 1);
        assertEquals("/Add", add.getName());
        assertEquals(List.of("logits"), add.getOutputList());
        assertEquals(List.of(1L, 2048L), inits.get(add.getInput(1)).getDimsList());
        assertTrue(add.getInput(1).startsWith("onnx::Add_"));
    }

    @Test
    void inputsAndOutputsMatchTheFixture() {
        assertEquals(real.getInputList(), synth.getInputList());
        assertEquals(real.getOutputList(), synth.getOutputList());
    }

    @Test
    void parameterCountsMatchHuggingFace() {
        assertEquals(397_824L, BartShape.tiny().parameterCount(), "models/tiny-bart/manifest.json");
        assertEquals(139_420_416L, BartShape.base().parameterCount(), "facebook/bart-base");
        assertEquals(406_291_456L, BartShape.large().parameterCount(), "facebook/bart-large");
        long realElements = real.getInitializerList().stream().mapToLong(Tensors::elementCount).sum();
        long synthElements = synth.getInitializerList().stream().mapToLong(Tensors::elementCount).sum();
        assertEquals(realElements, synthElements);
        assertEquals(BartShape.tiny().initializerElementCount(), synthElements);
    }

    @Test
    void otherShapesGenerateTheFormulasElementCount() {
        BartShape odd = new BartShape(300, 48, 3, 1, 6, 96, 40, BartShape.Dtype.FLOAT16);
        ModelProto m = SyntheticBart.generate(odd, 1);
        long elements = m.getGraph().getInitializerList().stream().mapToLong(Tensors::elementCount).sum();
        assertEquals(odd.initializerElementCount(), elements);
        assertEquals(odd.weightBytes(), ModelIO.weightBytes(m));
        assertTrue(m.getGraph().getInitializerList().stream()
                .allMatch(t -> t.getDataType() == TensorProto.DataType.FLOAT16_VALUE));
    }

    @Test
    void sameSeedSameWeightsOtherSeedOtherWeights() {
        TensorProto a = SyntheticBart.generate(BartShape.tiny(), 0).getGraph().getInitializer(0);
        TensorProto b = synth.getInitializer(0);
        TensorProto c = SyntheticBart.generate(BartShape.tiny(), 1).getGraph().getInitializer(0);
        assertEquals(a.getRawData(), b.getRawData());
        assertNotEquals(a.getRawData(), c.getRawData());
        float[] w = Tensors.toFloats(a);
        double sum = 0;
        double sq = 0;
        for (float v : w) {
            sum += v;
            sq += v * v;
        }
        double mean = sum / w.length;
        assertEquals(0.0, mean, 1e-3);
        assertEquals(WeightPlan.STD, Math.sqrt(sq / w.length - mean * mean), 1e-3);
        assertArrayEquals(new long[] {2048, 64}, Tensors.shape(a));
    }
}
