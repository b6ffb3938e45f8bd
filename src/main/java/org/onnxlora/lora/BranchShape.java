package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * The shape every reader of a patched LoRA branch looks for, {@code Add(base, Mul(MatMul(MatMul(X, *.lora_A),
 * *.lora_B), s))}, without what each of them adds: {@link BranchFinder} wants A, B and s as initializers and the
 * base projection reading the same X; the compiler's fold (adapters are graph inputs there) a constant scale.
 *
 * @param add the branch's Add
 * @param base the Add's other input (the projection's output)
 * @param scale the Mul of the B product and the scale
 * @param scaleValue the scale operand of {@code scale}
 * @param productB the B product, read by {@code scale} alone
 * @param productA the A product {@code productB} reads
 */
public record BranchShape(NodeProto add, String base, NodeProto scale, String scaleValue, NodeProto productB,
        NodeProto productA) {

    /** Every way {@code add} has that shape (which side is the branch, which Mul operand the scale), in order. */
    public static List<BranchShape> at(GraphIndex g, NodeProto add) {
        List<BranchShape> found = new ArrayList<>();
        if (!Domains.isOp(add, "Add") || add.getInputCount() != 2 || add.getOutputCount() != 1) {
            return found;
        }
        for (int side = 0; side < 2; side++) {
            NodeProto mul = NodePatterns.soleBinaryProducer(g, add.getInput(side), "Mul");
            if (mul == null) {
                continue;
            }
            for (int k = 0; k < 2; k++) {
                NodeProto productB = NodePatterns.soleBinaryProducer(g, mul.getInput(1 - k), "MatMul");
                if (productB == null || !productB.getInput(1).endsWith(".lora_B")) {
                    continue;
                }
                NodeProto productA = NodePatterns.producer(g, productB.getInput(0), "MatMul");
                if (productA != null && productA.getInputCount() == 2 && productA.getInput(1).endsWith(".lora_A")) {
                    found.add(new BranchShape(add, add.getInput(1 - side), mul, mul.getInput(k), productB, productA));
                }
            }
        }
        return found;
    }
}
