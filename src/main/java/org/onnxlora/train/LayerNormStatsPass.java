package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Gives every {@code LayerNormalization} its optional {@code Mean} and
 * {@code InvStdDev} outputs (opset 17), which the exporters leave off. The
 * backward needs both; computed once by the forward kernel they are two
 * {@code [rows, 1]} tensors, where recomputing them costs nine nodes and two
 * passes over the activation per layer norm. Every layer norm can take them, so
 * the pass never refuses one; those that already have both are left as they are.
 */
final class LayerNormStatsPass implements GraphPass {

    @Override
    public String name() {
        return "layer-norm-stats";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        NameGen names = null;
        GraphProto.Builder out = graph.toBuilder().clearNode();
        List<String> changed = new ArrayList<>();
        for (NodeProto n : graph.getNodeList()) {
            if (!Domains.isOp(n, "LayerNormalization") || n.getOutputCount() >= 3
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
            changed.add(GraphIndex.describe(n));
            out.addNode(b.build());
        }
        return new PassResult<>(name(), changed.isEmpty() ? graph : out.build(), changed, List.of());
    }
}
