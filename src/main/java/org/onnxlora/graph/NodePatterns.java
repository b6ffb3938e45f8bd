package org.onnxlora.graph;

import java.util.List;
import java.util.OptionalDouble;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Steps of a structural match over a {@link GraphIndex}: walk from a value to the node that
 * produces it or the one node that reads it, requiring a default-domain op type. Each returns
 * null when the step does not hold, so a matcher reads as a chain of steps, each checked once.
 */
public final class NodePatterns {
    private NodePatterns() {}

    /** The default-domain {@code op} node producing {@code value}, or null. */
    public static NodeProto producer(GraphIndex g, String value, String op) {
        int p = g.producerOf(value);
        return p >= 0 && Domains.isOp(g.node(p), op) ? g.node(p) : null;
    }

    /**
     * The binary {@code op} node producing {@code value}, when {@code value} has no other reader
     * (a file may give a MatMul or Mul any number of inputs: only the binary form matches).
     */
    public static NodeProto soleBinaryProducer(GraphIndex g, String value, String op) {
        NodeProto n = producer(g, value, op);
        return n != null && n.getInputCount() == 2 && g.consumersOf(value).size() == 1 && !g.isGraphOutput(value)
                ? n : null;
    }

    /** The binary {@code op} node that is the only reader of {@code value} (not a graph output), or null. */
    public static NodeProto soleBinaryConsumer(GraphIndex g, String value, String op) {
        NodeProto n = soleConsumer(g, value, op);
        return n != null && n.getInputCount() == 2 ? n : null;
    }

    /** The default-domain {@code op} node, of any arity, that is the only reader of {@code value} (not a graph output), or null. */
    public static NodeProto soleConsumer(GraphIndex g, String value, String op) {
        List<Integer> c = g.consumersOf(value);
        if (c.size() != 1 || c.get(0) < 0 || g.isGraphOutput(value)) {
            return null;
        }
        NodeProto n = g.node(c.get(0));
        return Domains.isOp(n, op) ? n : null;
    }

    /** The input of a binary node that is not {@code one}. */
    public static String other(NodeProto binary, String one) {
        return binary.getInput(0).equals(one) ? binary.getInput(1) : binary.getInput(0);
    }

    /** The value of a floating-point scalar constant: an initializer or the output of a Constant node. */
    public static OptionalDouble scalar(GraphIndex g, String value) {
        TensorProto t = constant(g, value);
        if (t == null || Tensors.elementCount(t) != 1 || !Tensors.isFloatType(t.getDataType())) {
            return OptionalDouble.empty();
        }
        return OptionalDouble.of(Tensors.toDoubles(t)[0]);
    }

    /** The tensor of a constant value: an initializer's, or a Constant node's {@code value}; else null. */
    public static TensorProto constant(GraphIndex g, String value) {
        TensorProto t = g.initializer(value);
        if (t == null) {
            int p = g.producerOf(value);
            if (p >= 0 && Domains.isOp(g.node(p), "Constant")) {
                for (AttributeProto a : g.node(p).getAttributeList()) {
                    if (a.getName().equals("value") && a.hasT()) {
                        t = a.getT();
                    }
                }
            }
        }
        return t;
    }
}
