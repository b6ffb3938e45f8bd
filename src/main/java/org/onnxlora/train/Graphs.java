package org.onnxlora.train;

import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/** Small helpers for declaring graph inputs and outputs. */
final class Graphs {
    private Graphs() {}

    /** A tensor value; a negative dim is symbolic, named {@code dimNames[i]} if given. */
    static ValueInfoProto tensorValue(String name, int elemType, long[] dims, String... dimNames) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (int i = 0; i < dims.length; i++) {
            TensorShapeProto.Dimension.Builder d = TensorShapeProto.Dimension.newBuilder();
            if (dims[i] >= 0) {
                d.setDimValue(dims[i]);
            } else if (i < dimNames.length) {
                d.setDimParam(dimNames[i]);
            }
            s.addDim(d);
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(s))).build();
    }
}
