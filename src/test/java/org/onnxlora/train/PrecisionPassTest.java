package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The autocast rewrite on a graph small enough to read: a float32 input into a MatMul with a frozen
 * weight, a float32-minimum scalar added (as a mask value is), a softmax. The weight is stored in
 * float16, the input cast at the MatMul, the scalar converted to float16's largest negative value
 * (not −inf), the softmax run in float32; ONNX Runtime agrees with the float32 graph within float16's
 * rounding.
 */
class PrecisionPassTest {
    static GraphProto graph() {
        float[] w = new float[12];
        for (int i = 0; i < w.length; i++) {
            w[i] = (i - 6) / 7f;
        }
        return GraphProto.newBuilder().setName("g")
                .addInput(Graphs.tensorValue("X", DataType.FLOAT_VALUE, new long[] {2, 3}))
                .addInitializer(Tensors.ofFloats("W", new long[] {3, 4}, w))
                .addInitializer(Tensors.ofFloats("c", new long[0], new float[] {-Float.MAX_VALUE}))
                .addInitializer(Tensors.ofFloats("k", new long[0], new float[] {0.5f}))
                .addNode(node("MatMul", List.of("X", "W"), "Y"))
                .addNode(node("Mul", List.of("Y", "k"), "Z"))
                .addNode(node("Softmax", List.of("Z"), "S"))
                .addNode(node("Add", List.of("Y", "c"), "M"))
                .addOutput(Graphs.tensorValue("S", DataType.FLOAT_VALUE, new long[] {2, 4}))
                .addOutput(Graphs.tensorValue("M", DataType.FLOAT_VALUE, new long[] {2, 4}))
                .build();
    }

    static NodeProto node(String op, List<String> in, String out) {
        return NodeProto.newBuilder().setOpType(op).setName(op).addAllInput(in).addOutput(out).build();
    }

    @Test
    void castsAtTheMatMulKeepsSoftmaxInFloat32AndSaturatesScalars() throws Exception {
        GraphProto g = PrecisionPass.apply(graph(), DataType.FLOAT16_VALUE, Set.of("S", "M"));
        GraphIndex ix = new GraphIndex(g);
        assertEquals(DataType.FLOAT16_VALUE, ix.initializer("W").getDataType(), "frozen weight stored in float16");
        NodeProto mm = g.getNodeList().stream().filter(n -> n.getOpType().equals("MatMul")).findFirst().orElseThrow();
        NodeProto castX = g.getNode(ix.producerOf(mm.getInput(0)));
        assertEquals("Cast", castX.getOpType());
        assertEquals("X", castX.getInput(0));
        NodeProto add = g.getNodeList().stream().filter(n -> n.getOpType().equals("Add")).findFirst().orElseThrow();
        TensorProto c = ix.initializer(add.getInput(1));
        assertEquals(DataType.FLOAT16_VALUE, c.getDataType(), "the scalar adopts the tensor's type");
        assertEquals(-65504.0, Tensors.toDoubles(c)[0], "saturated, not -inf");
        NodeProto sm = g.getNodeList().stream().filter(n -> n.getOpType().equals("Softmax")).findFirst().orElseThrow();
        NodeProto up = g.getNode(ix.producerOf(sm.getInput(0)));
        assertTrue(up.getOpType().equals("Cast") && up.getAttribute(0).getI() == DataType.FLOAT_VALUE,
                "softmax input cast to float32");

        float[] x = {0.3f, -1.2f, 0.7f, 2.0f, 0.1f, -0.4f};
        float[] ref = run(graph(), x);
        float[] got = run(g, x);
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], got[i], 2e-3, "softmax " + i);
        }
    }

    @Test
    void float32TargetUpcastsAHalfGraph() throws Exception {
        GraphProto half = PrecisionPass.apply(graph(), DataType.FLOAT16_VALUE, Set.of("S", "M"));
        GraphProto back = PrecisionPass.apply(half, DataType.FLOAT_VALUE, Set.of("S", "M"));
        assertEquals(DataType.FLOAT_VALUE, new GraphIndex(back).initializer("W").getDataType());
        float[] x = {0.3f, -1.2f, 0.7f, 2.0f, 0.1f, -0.4f};
        float[] ref = run(half, x);
        float[] got = run(back, x);
        for (int i = 0; i < ref.length; i++) {
            assertEquals(ref[i], got[i], 2e-3, "softmax " + i);
        }
    }

    static float[] run(GraphProto g, float[] x) throws Exception {
        ModelProto m = ModelProto.newBuilder().setIrVersion(8).setGraph(g)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17)).build();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(m.toByteArray(), new OrtSession.SessionOptions());
                OnnxTensor t = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(x), new long[] {2, 3});
                OrtSession.Result r = s.run(Map.of("X", t))) {
            float[][] out = (float[][]) r.get("S").orElseThrow().getValue();
            float[][] masked = (float[][]) r.get("M").orElseThrow().getValue();
            if (g.getInitializerList().stream().anyMatch(w -> w.getDataType() == DataType.FLOAT16_VALUE)) {
                // float16: the float32 minimum became float16's, so the masked value is finite
                assertTrue(Float.isFinite(masked[0][0]) && masked[0][0] < -65000, "masked " + masked[0][0]);
            }
            float[] flat = new float[8];
            for (int i = 0; i < 2; i++) {
                System.arraycopy(out[i], 0, flat, i * 4, 4);
            }
            return flat;
        }
    }
}
