package org.onnxlora.graph;

import java.util.Optional;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.AttributeProto.AttributeType;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/** Typed construction and lookup of node attributes. */
public final class Attrs {
    private Attrs() {}

    public static AttributeProto i(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.INT).setI(v).build();
    }

    public static AttributeProto f(String name, float v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.FLOAT).setF(v).build();
    }

    public static AttributeProto s(String name, String v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.STRING)
                .setS(com.google.protobuf.ByteString.copyFromUtf8(v)).build();
    }

    public static AttributeProto ints(String name, long... v) {
        AttributeProto.Builder b = AttributeProto.newBuilder().setName(name).setType(AttributeType.INTS);
        for (long x : v) {
            b.addInts(x);
        }
        return b.build();
    }

    public static AttributeProto t(String name, TensorProto v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeType.TENSOR).setT(v).build();
    }

    public static Optional<AttributeProto> find(NodeProto n, String name) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }

    public static long getInt(NodeProto n, String name, long dflt) {
        return find(n, name).map(AttributeProto::getI).orElse(dflt);
    }

    public static float getFloat(NodeProto n, String name, float dflt) {
        return find(n, name).map(AttributeProto::getF).orElse(dflt);
    }

    public static long[] getInts(NodeProto n, String name) {
        return find(n, name).map(a -> a.getIntsList().stream().mapToLong(Long::longValue).toArray()).orElse(null);
    }

    public static String getString(NodeProto n, String name, String dflt) {
        return find(n, name).map(a -> a.getS().toStringUtf8()).orElse(dflt);
    }
}
