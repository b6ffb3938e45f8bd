package org.onnxlora.train;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Rewrites {@code MatMul(X, Transpose(W))} with W a frozen 2-D initializer into
 * {@code com.microsoft:FusedMatMul(X, W, transB=1)}.
 *
 * <p>At any optimization level above none, ONNX Runtime constant-folds
 * {@code Transpose(initializer)} into a second, transposed copy of the weight. The
 * dynamo exporter writes the tied lm_head this way (vocab × d_model, the largest
 * weight of a BART), so training would hold it twice. FusedMatMul reads W as stored.
 */
public final class TransposedWeightPass {
    private TransposedWeightPass() {}

    public static GraphProto apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Set<String> dropped = new HashSet<>();
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            if (isWeightTranspose(g, n) && allConsumersAreMatMulB(g, n.getOutput(0))) {
                dropped.add(n.getOutput(0));
            }
        }
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Transpose") && dropped.contains(n.getOutput(0))) {
                continue;
            }
            if (n.getOpType().equals("MatMul") && n.getInputCount() == 2 && dropped.contains(n.getInput(1))) {
                NodeProto t = g.node(g.producerOf(n.getInput(1)));
                out.addNode(n.toBuilder().setOpType("FusedMatMul").setDomain(GraphBuilder.MS_DOMAIN)
                        .setInput(1, t.getInput(0)).addAttribute(Attrs.i("transB", 1)).addAttribute(Attrs.f("alpha", 1f)));
                continue;
            }
            out.addNode(n);
        }
        return out.build();
    }

    private static boolean isWeightTranspose(GraphIndex g, NodeProto n) {
        if (!n.getOpType().equals("Transpose") || !g.isInitializer(n.getInput(0))) {
            return false;
        }
        TensorProto w = g.initializer(n.getInput(0));
        long[] perm = Attrs.getInts(n, "perm");
        return w.getDimsCount() == 2 && (perm == null || (perm[0] == 1 && perm[1] == 0))
                && !g.isGraphOutput(n.getOutput(0));
    }

    private static boolean allConsumersAreMatMulB(GraphIndex g, String value) {
        List<Integer> consumers = g.consumersOf(value);
        if (consumers.isEmpty()) {
            return false;
        }
        for (int c : consumers) {
            if (c < 0) {
                return false;
            }
            NodeProto m = g.node(c);
            boolean matmul = m.getOpType().equals("MatMul") && (m.getDomain().isEmpty() || m.getDomain().equals("ai.onnx"));
            if (!matmul || !m.getInput(1).equals(value) || m.getInput(0).equals(value)) {
                return false;
            }
        }
        return true;
    }
}
