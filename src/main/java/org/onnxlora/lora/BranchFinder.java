package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Recognises LoRA branches by their structure, Add(base, Mul(MatMul(MatMul(X, A), B), s)),
 * with A and B initializers named {@code *.lora_A}/{@code *.lora_B} and the base
 * projection reading the same X. Structure, not metadata, is the source of truth:
 * a model whose metadata was stripped still merges.
 */
public final class BranchFinder {
    private BranchFinder() {}

    public static List<LoraBranch> find(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        List<LoraBranch> found = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto add = g.node(i);
            if (!Domains.isOp(add, "Add") || add.getInputCount() != 2 || add.getOutputCount() != 1) {
                continue;
            }
            for (int side = 0; side < 2; side++) {
                LoraBranch b = match(g, add, add.getInput(1 - side), add.getInput(side));
                if (b != null) {
                    found.add(b);
                    break;
                }
            }
        }
        return found;
    }

    private static LoraBranch match(GraphIndex g, NodeProto add, String base, String scaled) {
        NodeProto mul = NodePatterns.soleBinaryProducer(g, scaled, "Mul");
        if (mul == null) {
            return null;
        }
        String s = g.isInitializer(mul.getInput(1)) ? mul.getInput(1) : g.isInitializer(mul.getInput(0)) ? mul.getInput(0) : null;
        if (s == null) {
            return null;
        }
        NodeProto mmB = NodePatterns.soleBinaryProducer(g, s.equals(mul.getInput(1)) ? mul.getInput(0) : mul.getInput(1), "MatMul");
        if (mmB == null || !g.isInitializer(mmB.getInput(1)) || !mmB.getInput(1).endsWith(".lora_B")) {
            return null;
        }
        NodeProto mmA = NodePatterns.soleBinaryProducer(g, mmB.getInput(0), "MatMul");
        if (mmA == null || !g.isInitializer(mmA.getInput(1)) || !mmA.getInput(1).endsWith(".lora_A")) {
            return null;
        }
        int baseIdx = g.producerOf(base);
        if (baseIdx < 0) {
            return null;
        }
        NodeProto baseNode = g.node(baseIdx);
        boolean linear = Domains.isOp(baseNode, "MatMul") || Domains.isOp(baseNode, "Gemm");
        if (!linear || baseNode.getInputCount() < 2 || !baseNode.getInput(0).equals(mmA.getInput(0))
                || g.consumersOf(base).size() != 1) {
            return null;
        }
        String a = mmA.getInput(1);
        String path = a.substring(0, a.length() - ".lora_A".length());
        return new LoraBranch(path, baseNode.getName(), base, add.getOutput(0), a, mmB.getInput(1), s,
                List.of(mmA.getName(), mmB.getName(), mul.getName(), add.getName()));
    }
}
