package org.onnxlora.graph;

import org.onnxlora.proto.Onnx.NodeProto;

/** The ONNX operator domains: {@code ""} and {@code "ai.onnx"} name the same, default one. */
public final class Domains {
    public static final String DEFAULT = "ai.onnx";

    private Domains() {}

    /** Whether {@code domain} is the default ONNX domain (either spelling; null counts as empty). */
    public static boolean isDefault(String domain) {
        return domain == null || domain.isEmpty() || domain.equals(DEFAULT);
    }

    public static boolean isDefault(NodeProto n) {
        return isDefault(n.getDomain());
    }

    /** Whether {@code n} is the default-domain op {@code opType}. */
    public static boolean isOp(NodeProto n, String opType) {
        return n.getOpType().equals(opType) && isDefault(n);
    }

    /** {@code ""} for the default domain, the domain itself otherwise: one key per domain. */
    public static String key(String domain) {
        return isDefault(domain) ? "" : domain;
    }

    /** The domain as messages print it: {@code ai.onnx} for the default one. */
    public static String display(String domain) {
        return isDefault(domain) ? DEFAULT : domain;
    }
}
