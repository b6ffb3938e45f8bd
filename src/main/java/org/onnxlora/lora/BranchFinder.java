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
            for (BranchShape shape : BranchShape.at(g, g.node(i))) {
                LoraBranch b = match(g, shape);
                if (b != null) {
                    found.add(b);
                    break;
                }
            }
        }
        return found;
    }

    /** The branch when A, B and the scale are initializers, A's product has no other reader, and the base projection reads A's X. */
    private static LoraBranch match(GraphIndex g, BranchShape s) {
        NodeProto mmA = s.productA();
        NodeProto mmB = s.productB();
        if (!g.isInitializer(s.scaleValue()) || !g.isInitializer(mmB.getInput(1)) || !g.isInitializer(mmA.getInput(1))
                || NodePatterns.soleBinaryProducer(g, mmB.getInput(0), "MatMul") == null) {
            return null;
        }
        int baseIdx = g.producerOf(s.base());
        if (baseIdx < 0) {
            return null;
        }
        NodeProto baseNode = g.node(baseIdx);
        boolean linear = Domains.isOp(baseNode, "MatMul") || Domains.isOp(baseNode, "Gemm");
        if (!linear || baseNode.getInputCount() < 2 || !baseNode.getInput(0).equals(mmA.getInput(0))
                || g.consumersOf(s.base()).size() != 1) {
            return null;
        }
        String a = mmA.getInput(1);
        String path = a.substring(0, a.length() - ".lora_A".length());
        return new LoraBranch(path, baseNode.getName(), s.base(), s.add().getOutput(0), a, mmB.getInput(1),
                s.scaleValue(), List.of(mmA.getName(), mmB.getName(), s.scale().getName(), s.add().getName()));
    }
}
