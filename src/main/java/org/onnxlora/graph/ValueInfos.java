package org.onnxlora.graph;

import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/** Declarations of graph inputs and outputs. */
public final class ValueInfos {
    private ValueInfos() {}

    /**
     * A tensor value; each dim is a fixed size (a Number), a symbolic name (a non-empty
     * String) or unknown (an empty String).
     */
    public static ValueInfoProto tensor(String name, int elemType, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder dim = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof String param) {
                if (!param.isEmpty()) {
                    dim.setDimParam(param);
                }
            } else {
                dim.setDimValue(((Number) d).longValue());
            }
            shape.addDim(dim);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(shape))).build();
    }
}
