package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/**
 * The compiled graphs leave ONNX Runtime's CUDA provider no host-to-device copy to insert, which is what lets a
 * session with symbolic dims capture CUDA graphs. {@link CudaPlacement} models ORT's placement; on an H200 (session
 * 9), ORT logged "Add MemcpyFromHost after /model/encoder/Gather_4_output_0" and ".../decoder/Gather_3_output_0" for
 * the bundled TorchScript export's step graph and then refused graph capture: the first test holds the model to
 * that log. The rewrite itself is checked by running a forward before and after it.
 */
class HostScalarPassTest {

    @Test
    void placementFindsTheCopiesOrtInsertedOnTheGpu() {
        GraphProto g = ModelIO.load(Fixtures.torchscript()).getGraph();
        List<String> copied = CudaPlacement.of(g).copiesToDevice().stream().map(CudaPlacement.Copy::value)
                .distinct().sorted().toList();
        // and the decoder's Gather_6: Shape(Cast(attention_mask))[1] again, which ORT's common-subexpression
        // elimination merges into the encoder's Gather_4 before it places nodes, so one copy serves both
        assertEquals(List.of("/model/decoder/Gather_3_output_0", "/model/decoder/Gather_6_output_0",
                "/model/encoder/Gather_4_output_0"), copied);
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.train.ReplayHazardsTest#exports")
    void compiledGraphsNeedNoCopyToTheDevice(Path model) {
        TrainingCompiler.Artifacts a = BitwiseSteps.compiledWithRandomAdapters(model);
        GraphProto step = FusedStepGraph.build(a.training(), a.optimizer(), new AdapterLayout(a.adapters())).getGraph();
        for (GraphProto g : List.of(a.training().getGraph(), a.eval().getGraph(), step)) {
            assertEquals(List.of(), CudaPlacement.of(g).copiesToDevice(), g.getName());
        }
    }

    @Test
    void aFloatScalarAndABoolScalarComeBackAsThemselves() throws OrtException {
        // s = float(len(x)) and b = (len(x) == 3) read by device ops (a graph input would pull them to the host,
        // a Relu of it does not): both lifted, both the same values after
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(Graphs.tensorValue("x", DataType.FLOAT_VALUE, new long[] {-1}, "n"))
                .addNode(node("Shape", List.of("x"), "shape"))
                .addNode(node("Squeeze", List.of("shape"), "len"))
                .addNode(NodeProto.newBuilder().setOpType("Cast").addInput("len").addOutput("lenf")
                        .addAttribute(org.onnxlora.graph.Attrs.i("to", DataType.FLOAT_VALUE)))
                .addInitializer(org.onnxlora.io.Tensors.ofLongs("three", new long[0], 3))
                .addNode(node("Equal", List.of("len", "three"), "is3"))
                .addNode(node("Relu", List.of("x"), "rx"))
                .addNode(node("Mul", List.of("rx", "lenf"), "scaled"))
                .addNode(node("Where", List.of("is3", "rx", "scaled"), "y"))
                .addOutput(Graphs.tensorValue("y", DataType.FLOAT_VALUE, new long[] {-1}, "n"))
                .build();
        assertEquals(2, CudaPlacement.of(g).copiesToDevice().size(), "the Mul's and the Where's host inputs");
        PassResult<GraphProto> r = new HostScalarPass().apply(g);
        assertEquals(List.of(), r.refused());
        assertEquals(List.of(), CudaPlacement.of(r.output()).copiesToDevice());
        for (int n : new int[] {1, 3, 5, 1000}) {
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = 0.25f * i - 1;
            }
            assertArrayEquals(runFloat(g, x), runFloat(r.output(), x), "n = " + n);
        }
    }

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void theForwardGivesTheSameLogitsToTheBit(Path model) throws OrtException {
        ModelProto m = ModelIO.load(model);
        PassResult<GraphProto> r = new HostScalarPass().apply(m.getGraph());
        assertEquals(List.of(), r.refused());
        boolean torchscript = model.equals(Fixtures.torchscript());
        if (torchscript) {
            assertFalse(r.changed().isEmpty(), "the TorchScript export's masks read shape elements on the device");
        }
        ModelProto after = m.toBuilder().setGraph(r.output()).build();
        OrtEnvironment env = Sessions.env();
        try (OrtSession before = Sessions.create(m, RuntimeOptions.defaults(), "before");
                OrtSession lifted = Sessions.create(after, RuntimeOptions.defaults(), "after")) {
            int[][] shapes = {{2, 7, 5}, {3, 12, 9}, {1, 4, 3}};
            for (int[] s : shapes) {
                Map<String, OnnxTensor> feeds = batch(env, before, s[0], s[1], s[2]);
                try (OrtSession.Result a = before.run(feeds); OrtSession.Result b = lifted.run(feeds)) {
                    float[] la = flat(a);
                    float[] lb = flat(b);
                    assertTrue(la.length > 0);
                    assertArrayEquals(la, lb, "batch " + java.util.Arrays.toString(s));
                } finally {
                    feeds.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    private static NodeProto node(String op, List<String> in, String out) {
        return NodeProto.newBuilder().setOpType(op).setName(out).addAllInput(in).addOutput(out).build();
    }

    private static float[] runFloat(GraphProto g, float[] x) throws OrtException {
        ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(org.onnxlora.proto.Onnx.OperatorSetIdProto.newBuilder().setVersion(17)).build();
        try (OrtSession s = Sessions.create(m, RuntimeOptions.defaults(), "probe");
                OnnxTensor t = OnnxTensor.createTensor(Sessions.env(), x);
                OrtSession.Result r = s.run(Map.of("x", t))) {
            return (float[]) r.get(0).getValue();
        }
    }

    /** Random ids with ragged masks for every input the export declares. */
    private static Map<String, OnnxTensor> batch(OrtEnvironment env, OrtSession s, int size, int source, int target)
            throws OrtException {
        SplittableRandom rnd = new SplittableRandom(size * 31L + source);
        Map<String, OnnxTensor> feeds = new HashMap<>();
        for (String name : s.getInputNames()) {
            int len = name.startsWith("decoder") ? target : source;
            long[] v = new long[size * len];
            for (int i = 0; i < v.length; i++) {
                v[i] = name.endsWith("mask") ? (i % len < len - i / len ? 1 : 0) : 4 + rnd.nextInt(60);
            }
            feeds.put(name, OnnxTensor.createTensor(env, LongBuffer.wrap(v), new long[] {size, len}));
        }
        return feeds;
    }

    private static float[] flat(OrtSession.Result r) throws OrtException {
        OnnxTensor logits = (OnnxTensor) r.get(0);
        java.nio.FloatBuffer b = logits.getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }
}
