package org.onnxlora.train;

import org.onnxlora.graph.ValueInfos;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/** Small helpers for declaring graph inputs and outputs. */
final class Graphs {
    private Graphs() {}

    /** A tensor value; a negative dim is symbolic, named {@code dimNames[i]} if given. */
    static ValueInfoProto tensorValue(String name, int elemType, long[] dims, String... dimNames) {
        Object[] d = new Object[dims.length];
        for (int i = 0; i < dims.length; i++) {
            d[i] = dims[i] >= 0 ? (Object) dims[i] : i < dimNames.length ? dimNames[i] : "";
        }
        return ValueInfos.tensor(name, elemType, d);
    }
}
