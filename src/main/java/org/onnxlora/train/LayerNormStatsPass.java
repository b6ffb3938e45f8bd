package org.onnxlora.train;

import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Gives every {@code LayerNormalization} its optional {@code Mean} and
 * {@code InvStdDev} outputs (opset 17), which the exporters leave off. The
 * backward needs both; computed once by the forward kernel they are two
 * {@code [rows, 1]} tensors, where recomputing them costs nine nodes and two
 * passes over the activation per layer norm.
 */
final class LayerNormStatsPass {
    private LayerNormStatsPass() {}

    static GraphProto apply(GraphProto graph) {
        NameGen names = null;
        GraphProto.Builder out = graph.toBuilder().clearNode();
        boolean changed = false;
        for (NodeProto n : graph.getNodeList()) {
            boolean standard = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
            if (!standard || !n.getOpType().equals("LayerNormalization") || n.getOutputCount() >= 3
                    && !n.getOutput(1).isEmpty() && !n.getOutput(2).isEmpty()) {
                out.addNode(n);
                continue;
            }
            if (names == null) {
                names = new NameGen(new GraphIndex(graph).allNames());
            }
            NodeProto.Builder b = n.toBuilder();
            String base = n.getOutput(0);
            while (b.getOutputCount() < 3) {
                b.addOutput("");
            }
            for (int k = 1; k <= 2; k++) {
                if (b.getOutput(k).isEmpty()) {
                    b.setOutput(k, names.fresh(base + (k == 1 ? "/mean" : "/inv_std_dev")));
                }
            }
            changed = true;
            out.addNode(b.build());
        }
        return changed ? out.build() : graph;
    }
}
