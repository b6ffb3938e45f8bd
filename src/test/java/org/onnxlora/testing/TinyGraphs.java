package org.onnxlora.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Builds small models in code for rewrite tests, named the way the TorchScript
 * exporter names BART's attention projections.
 */
public final class TinyGraphs {
    private final GraphProto.Builder g = GraphProto.newBuilder().setName("tiny");
    private final SplittableRandom rng;

    public TinyGraphs(long seed) {
        this.rng = new SplittableRandom(seed);
    }

    public TensorProto random(String name, int dataType, long... dims) {
        int n = 1;
        for (long d : dims) {
            n *= (int) d;
        }
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rng.nextGaussian() * 0.3;
        }
        return Tensors.ofDoubles(name, dims, v, dataType);
    }

    public TinyGraphs input(String name, int elemType, Object... dims) {
        g.addInput(ValueInfos.tensor(name, elemType, dims));
        return this;
    }

    public TinyGraphs output(String name, int elemType, Object... dims) {
        g.addOutput(ValueInfos.tensor(name, elemType, dims));
        return this;
    }

    public TinyGraphs init(TensorProto t) {
        g.addInitializer(t);
        return this;
    }

    public TinyGraphs node(String op, String name, List<String> in, List<String> out,
            org.onnxlora.proto.Onnx.AttributeProto... attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(in).addAllOutput(out);
        for (var a : attrs) {
            n.addAttribute(a);
        }
        g.addNode(n);
        return this;
    }

    /** A node of {@code domain} (e.g. com.microsoft's FusedMatMul). */
    public TinyGraphs node(String domain, String op, String name, List<String> in, List<String> out,
            org.onnxlora.proto.Onnx.AttributeProto... attrs) {
        node(op, name, in, out, attrs);
        g.setNode(g.getNodeCount() - 1, g.getNode(g.getNodeCount() - 1).toBuilder().setDomain(domain));
        return this;
    }

    /** {@code /<path as slashes>/MatMul} + bias Add, TorchScript style; returns the output value. */
    public String linear(String input, String modulePath, long in, long out, int dataType, String weightName) {
        String scope = "/" + modulePath.replace("layers.", "layers#").replace('.', '/').replace('#', '.');
        if (weightName == null) {
            weightName = "onnx::MatMul_" + Math.abs(modulePath.hashCode());
            init(random(weightName, dataType, in, out));
        }
        String mm = scope + "/MatMul_output_0";
        node("MatMul", scope + "/MatMul", List.of(input, weightName), List.of(mm));
        String bias = modulePath + ".bias";
        init(random(bias, dataType, out));
        String y = scope + "/Add_output_0";
        node("Add", scope + "/Add", List.of(bias, mm), List.of(y));
        return y;
    }

    /** Gemm with a [out,in] weight and transB=1, as older exports of 2-D linears look. */
    public String gemm(String input, String modulePath, long in, long out, float alpha) {
        String scope = "/" + modulePath.replace("layers.", "layers#").replace('.', '/').replace('#', '.');
        String w = modulePath + ".weight";
        init(random(w, 1, out, in));
        String bias = modulePath + ".bias";
        init(random(bias, 1, out));
        String y = scope + "/Gemm_output_0";
        node("Gemm", scope + "/Gemm", List.of(input, w, bias), List.of(y), Attrs.i("transB", 1), Attrs.f("alpha", alpha));
        return y;
    }

    public ModelProto model() {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-lora-tests")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(g).build();
    }

    public static List<String> list(String... s) {
        return new ArrayList<>(List.of(s));
    }
}
