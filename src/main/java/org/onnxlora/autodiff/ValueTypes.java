package org.onnxlora.autodiff;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * The element types of forward values (declared, or propagated through the graph
 * with simple per-op rules): gradient rules need them to mint constants of the
 * right dtype. The answer may be "unknown", and rules must then let the runtime
 * adopt the type. Shapes are {@link org.onnxlora.graph.shape.SymbolicShapes}' job.
 */
public final class ValueTypes {
    /** Element type meaning "not known statically". */
    public static final int UNKNOWN = 0;

    private final Map<String, Integer> dtypes = new HashMap<>();

    public ValueTypes(GraphProto graph) {
        for (TensorProto t : graph.getInitializerList()) {
            dtypes.put(t.getName(), t.getDataType());
        }
        declare(graph.getInputList());
        declare(graph.getOutputList());
        declare(graph.getValueInfoList());
        for (NodeProto n : graph.getNodeList()) {
            for (int k = 0; k < n.getOutputCount(); k++) {
                String out = n.getOutput(k);
                if (!out.isEmpty() && !dtypes.containsKey(out)) {
                    int dt = infer(n, k);
                    if (dt != UNKNOWN) {
                        dtypes.put(out, dt);
                    }
                }
            }
        }
    }

    private void declare(List<ValueInfoProto> infos) {
        for (ValueInfoProto v : infos) {
            if (!v.hasType() || !v.getType().hasTensorType()) {
                continue;
            }
            TypeProto.Tensor t = v.getType().getTensorType();
            if (t.getElemType() != UNKNOWN) {
                dtypes.putIfAbsent(v.getName(), t.getElemType());
            }
        }
    }

    /** Output element type of a node, by the op's typing rule; most ops keep their first input's type. */
    private int infer(NodeProto n, int output) {
        switch (n.getOpType()) {
            case "Cast":
                return (int) Attrs.getInt(n, "to", UNKNOWN);
            case "CastLike":
                return dtype(n.getInput(1));
            case "Shape": case "Size": case "NonZero": case "ArgMax": case "ArgMin":
                return DataType.INT64_VALUE;
            case "Equal": case "Less": case "Greater": case "LessOrEqual": case "GreaterOrEqual": case "And":
            case "Or": case "Not": case "Xor": case "IsNaN": case "IsInf":
                return DataType.BOOL_VALUE;
            case "Constant":
                return Attrs.find(n, "value").filter(AttributeProto::hasT).map(a -> a.getT().getDataType())
                        .orElse(UNKNOWN);
            case "ConstantOfShape":
                return Attrs.find(n, "value").filter(AttributeProto::hasT).map(a -> a.getT().getDataType())
                        .orElse(DataType.FLOAT_VALUE);
            case "Where":
                return dtype(n.getInput(1));
            case "OneHot":
                return dtype(n.getInput(2));
            case "Dropout":
                return output == 0 ? dtype(n.getInput(0)) : DataType.BOOL_VALUE;
            case "LayerNormalization":
                return output == 0 ? dtype(n.getInput(0)) : (int) Attrs.getInt(n, "stash_type", DataType.FLOAT_VALUE);
            default:
                for (String in : n.getInputList()) {
                    if (!in.isEmpty() && dtype(in) != UNKNOWN) {
                        return dtype(in);
                    }
                }
                return UNKNOWN;
        }
    }

    /** The element type (a {@link DataType} number), or {@link #UNKNOWN}. */
    public int dtype(String value) {
        return dtypes.getOrDefault(value, UNKNOWN);
    }
}
