package org.onnxlora.autodiff;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/** Builds small test models from protobuf builders and runs them in ONNX Runtime (no checked-in model files). */
final class Models {
    static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    private Models() {}

    static NodeProto node(String op, List<String> in, List<String> out, org.onnxlora.proto.Onnx.AttributeProto... attrs) {
        return node("", op, in, out, attrs);
    }

    static NodeProto node(String domain, String op, List<String> in, List<String> out,
            org.onnxlora.proto.Onnx.AttributeProto... attrs) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName("fwd_" + op + "_" + out.get(0))
                .addAllInput(in).addAllOutput(out).setDomain(domain);
        for (var a : attrs) {
            b.addAttribute(a);
        }
        return b.build();
    }

    /** A value declaration: {@code dims} null for unknown shape; negative entries become symbolic dims. */
    static ValueInfoProto info(String name, int dtype, long[] dims) {
        TypeProto.Tensor.Builder t = TypeProto.Tensor.newBuilder().setElemType(dtype);
        if (dims != null) {
            TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
            for (int i = 0; i < dims.length; i++) {
                if (dims[i] >= 0) {
                    s.addDimBuilder().setDimValue(dims[i]);
                } else {
                    s.addDimBuilder().setDimParam(name + "_d" + i);
                }
            }
            t.setShape(s);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(t)).build();
    }

    static ModelProto model(GraphProto g) {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("onnx-lora-test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setGraph(g).build();
    }

    static OrtSession session(ModelProto m) throws OrtException {
        return session(m, OrtSession.SessionOptions.OptLevel.NO_OPT);
    }

    static OrtSession session(ModelProto m, OrtSession.SessionOptions.OptLevel level) throws OrtException {
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(level);
            return ENV.createSession(m.toByteArray(), o);
        }
    }

    /** A tensor value in double precision plus its shape, whatever dtype ORT used. */
    record Value(double[] data, long[] shape) {}

    /** Runs {@code s} on float tensors of {@code dtype}; returns the requested outputs widened to double. */
    static Map<String, Value> run(OrtSession s, int dtype, Map<String, Value> inputs, List<String> outputs)
            throws OrtException {
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        try {
            for (var e : inputs.entrySet()) {
                feed.put(e.getKey(), tensor(dtype, e.getValue()));
            }
            Map<String, Value> out = new HashMap<>();
            try (OrtSession.Result r = s.run(feed, new java.util.LinkedHashSet<>(outputs))) {
                for (String name : outputs) {
                    OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow();
                    out.put(name, read(t));
                }
            }
            return out;
        } finally {
            for (OnnxTensor t : feed.values()) {
                t.close();
            }
        }
    }

    static OnnxTensor tensor(int dtype, Value v) throws OrtException {
        if (dtype == DataType.DOUBLE_VALUE) {
            return OnnxTensor.createTensor(ENV, DoubleBuffer.wrap(v.data()), v.shape());
        }
        float[] f = new float[v.data().length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) v.data()[i];
        }
        return OnnxTensor.createTensor(ENV, FloatBuffer.wrap(f), v.shape());
    }

    static Value read(OnnxTensor t) {
        long[] shape = t.getInfo().getShape();
        double[] d;
        switch (t.getInfo().type) {
            case DOUBLE -> {
                DoubleBuffer b = t.getDoubleBuffer();
                d = new double[b.remaining()];
                b.get(d);
            }
            case FLOAT -> {
                FloatBuffer b = t.getFloatBuffer();
                d = new double[b.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b.get(i);
                }
            }
            case BOOL -> {
                java.nio.ByteBuffer b = t.getByteBuffer();
                d = new double[b.remaining()];
                for (int i = 0; i < d.length; i++) {
                    d[i] = b.get(i) != 0 ? 1 : 0;
                }
            }
            default -> throw new IllegalStateException("unexpected output type " + t.getInfo().type);
        }
        return new Value(d, shape);
    }

    static List<String> list(String... s) {
        return new ArrayList<>(List.of(s));
    }
}
