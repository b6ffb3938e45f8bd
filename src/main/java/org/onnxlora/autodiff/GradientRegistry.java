package org.onnxlora.autodiff;

import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.Domains;
import org.onnxlora.proto.Onnx.NodeProto;

/** Gradient rules keyed by (domain, op type). Registering a key twice is a bug and fails. */
public final class GradientRegistry {
    private final Map<String, GradientRule> rules = new HashMap<>();

    /** {@code ""} and {@code "ai.onnx"} are the same domain. */
    private static String key(String domain, String opType) {
        return Domains.key(domain) + "::" + opType;
    }

    public GradientRegistry register(String domain, String opType, GradientRule rule) {
        if (rules.putIfAbsent(key(domain, opType), rule) != null) {
            throw new IllegalStateException("gradient rule for op " + opType + " (domain '" + domain
                    + "') registered twice");
        }
        return this;
    }

    public Optional<GradientRule> find(String domain, String opType) {
        return Optional.ofNullable(rules.get(key(domain, opType)));
    }

    public Optional<GradientRule> find(NodeProto node) {
        return find(node.getDomain(), node.getOpType());
    }

    /** The rule for {@code node}, or a compile error naming the op and the node. */
    public GradientRule lookup(NodeProto node) {
        return find(node).orElseThrow(() -> new OnnxLoraException(ErrorCode.COMPILE,
                "no gradient rule for op " + node.getOpType() + " (domain "
                        + Domains.display(node.getDomain()) + ") at node '"
                        + (node.getName().isEmpty() ? String.join(",", node.getOutputList()) : node.getName())
                        + "'; it lies on the path from a trainable tensor to the loss, so training through it"
                        + " needs a rule in org.onnxlora.autodiff.rules"));
    }
}
