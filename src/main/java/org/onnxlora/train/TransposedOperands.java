package org.onnxlora.train;

import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * What the two passes that read a frozen weight transposed instead of storing its transpose share
 * ({@link TransposedWeightPass}, {@link TiedWeightPass}): when a transposed copy may go, and the product that
 * replaces a MatMul reading it.
 */
final class TransposedOperands {
    private TransposedOperands() {}

    /**
     * Why the transposed weight {@code value} must stay, or null when every reader is a MatMul taking it as its
     * second operand (which {@code FusedMatMul}'s transB covers exactly).
     */
    static String whyItStays(GraphIndex g, String value) {
        return g.isGraphOutput(value) ? "the transposed weight is a graph output" : whyItsReadersKeepIt(g, value);
    }

    /** Why the readers of {@code value} need it as a tensor of its own, or null when only MatMuls' B reads it. */
    static String whyItsReadersKeepIt(GraphIndex g, String value) {
        List<Integer> consumers = g.consumersOf(value);
        if (consumers.isEmpty()) {
            return "nothing reads the transposed weight";
        }
        for (int c : consumers) {
            if (c < 0) {
                return "a subgraph reads the transposed weight";
            }
            NodeProto m = g.node(c);
            if (!Domains.isOp(m, "MatMul") || !m.getInput(1).equals(value) || m.getInput(0).equals(value)) {
                return "read by " + GraphIndex.describe(m) + ", not only as a MatMul's second input";
            }
        }
        return null;
    }

    /** {@code matMul} reading {@code weight} as stored, transposed by the product: FusedMatMul(X, W, transB=1). */
    static NodeProto readTransposed(NodeProto matMul, String weight) {
        return matMul.toBuilder().setOpType("FusedMatMul").setDomain(GraphBuilder.MS_DOMAIN).setInput(1, weight)
                .addAttribute(Attrs.i("transB", 1)).addAttribute(Attrs.f("alpha", 1f)).build();
    }
}
