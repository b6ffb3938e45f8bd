package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.PassResult;
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
public final class TransposedWeightPass implements GraphPass {

    @Override
    public String name() {
        return "transposed-weight";
    }

    /**
     * Rewrites every such product. A transposed 2-D weight that something other than a MatMul's
     * second input reads is refused (ORT will still fold it into a copy), naming that reader.
     */
    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Set<String> dropped = new HashSet<>();
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            if (!isWeightTranspose(g, n)) {
                continue;
            }
            String whyNot = TransposedOperands.whyItStays(g, n.getOutput(0));
            if (whyNot == null) {
                dropped.add(n.getOutput(0));
                changed.add(n.getInput(0));
            } else {
                refused.add(new PassResult.Refusal(n.getInput(0), whyNot));
            }
        }
        if (dropped.isEmpty()) {
            return new PassResult<>(name(), graph, changed, refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Transpose") && dropped.contains(n.getOutput(0))) {
                continue;
            }
            if (n.getOpType().equals("MatMul") && n.getInputCount() == 2 && dropped.contains(n.getInput(1))) {
                NodeProto t = g.node(g.producerOf(n.getInput(1)));
                out.addNode(TransposedOperands.readTransposed(n, t.getInput(0)));
                continue;
            }
            out.addNode(n);
        }
        return new PassResult<>(name(), out.build(), changed, refused);
    }

    private static boolean isWeightTranspose(GraphIndex g, NodeProto n) {
        if (!Domains.isOp(n, "Transpose") || !g.isInitializer(n.getInput(0))) {
            return false;
        }
        TensorProto w = g.initializer(n.getInput(0));
        long[] perm = Attrs.getInts(n, "perm");
        return w.getDimsCount() == 2 && (perm == null || (perm[0] == 1 && perm[1] == 0));
    }
}
