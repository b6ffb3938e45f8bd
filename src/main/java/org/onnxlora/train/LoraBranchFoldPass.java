package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.lora.BranchShape;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Rewrites each patched LoRA branch, {@code Add(bias, Add(x·W0, Mul((x·A)·B, s)))}, into
 * {@code Add(Add(x·W0, bias), FusedMatMul((x·A), B, alpha=s))}: the order PEFT computes in,
 * {@code base_layer(x) + lora_B(lora_A(x))·scaling}, in two fewer activation-wide passes per branch.
 *
 * <ul>
 *   <li>The scale becomes the {@code alpha} of the B product, which applies it for free: the
 *       {@code Mul} was a read and a write of the projection's whole output.</li>
 *   <li>The bias moves onto the frozen product, where ONNX Runtime fuses it into the product itself
 *       ({@code MatMul + Add} into {@code Gemm}, whose epilogue adds the bias); the patch had left
 *       that Add behind the branch's Add, out of the fusion's reach.</li>
 * </ul>
 *
 * <p>Runs on the forward before it is differentiated, so the adapters are graph inputs here.
 * The backward is unchanged in cost: the gradient of an Add is its input's, and FusedMatMul's
 * rule carries {@code alpha} into the two gradient products. A branch whose intermediate values
 * have other readers, or whose scale is not a float constant, is left as it is.
 */
public final class LoraBranchFoldPass implements GraphPass {

    @Override
    public String name() {
        return "lora-branch-fold";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        NameGen names = new NameGen(g.allNames());
        NodeEdits edits = new NodeEdits();
        List<String> changed = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            Branch b = match(g, g.node(i));
            if (b == null) {
                continue;
            }
            NodeProto product = NodeProto.newBuilder()
                    .setName(b.productB.getName())
                    .setOpType("FusedMatMul")
                    .setDomain(GraphBuilder.MS_DOMAIN)
                    .addInput(b.productB.getInput(0))
                    .addInput(b.productB.getInput(1))
                    .addOutput(b.scale.getOutput(0))
                    .addAttribute(Attrs.f("alpha", b.alpha))
                    .build();
            edits.replace(g.producerOf(b.productB.getOutput(0)), List.of(product));
            edits.remove(g.producerOf(b.scale.getOutput(0)));
            changed.add(b.productB.getName());
            String lora = b.scale.getOutput(0);
            if (b.biasAdd == null) {
                continue;
            }
            // Add(Add(base, bias), lora), written where the bias Add was: every input exists there.
            String biased = names.fresh(b.baseOutput + "_biased");
            NodeProto withBias = NodeProto.newBuilder()
                    .setName(names.fresh(b.biasAdd.getName() + "_base"))
                    .setOpType("Add")
                    .addInput(b.baseOutput)
                    .addInput(b.bias)
                    .addOutput(biased)
                    .build();
            NodeProto sum = b.branchAdd.toBuilder().clearInput().clearOutput()
                    .addInput(biased)
                    .addInput(lora)
                    .addOutput(b.biasAdd.getOutput(0))
                    .build();
            edits.remove(g.producerOf(b.branchAdd.getOutput(0)));
            edits.replace(g.producerOf(b.biasAdd.getOutput(0)), List.of(withBias, sum));
        }
        if (edits.isEmpty()) {
            return PassResult.unchanged(name(), graph);
        }
        return new PassResult<>(name(), edits.applyTo(g, graph).build(), changed, List.of());
    }

    /** The nodes of one foldable branch; {@code biasAdd} and {@code bias} null when there is none to move. */
    private record Branch(NodeProto productB, NodeProto scale, float alpha, NodeProto branchAdd, String baseOutput,
            NodeProto biasAdd, String bias) {}

    /** A branch whose {@code Add} is {@code add} and whose scale is a float constant, or null. */
    private static Branch match(GraphIndex g, NodeProto add) {
        for (BranchShape shape : BranchShape.at(g, add)) {
            Float alpha = constantScale(g, shape.scaleValue());
            if (alpha == null) {
                continue;
            }
            NodeProto biasAdd = NodePatterns.soleBinaryConsumer(g, add.getOutput(0), "Add");
            String bias = biasAdd == null ? null : NodePatterns.other(biasAdd, add.getOutput(0));
            if (bias != null && !isFrozenVector(g, bias)) {
                biasAdd = null;
                bias = null;
            }
            return new Branch(shape.productB(), shape.scale(), alpha, add, shape.base(), biasAdd, bias);
        }
        return null;
    }

    /** A float scalar initializer's value when a float {@code alpha} holds it exactly; else null. */
    private static Float constantScale(GraphIndex g, String value) {
        if (!g.isInitializer(value) || g.isGraphInput(value)) {
            return null; // an initializer that is also an input is a default a caller may override
        }
        OptionalDouble v = NodePatterns.scalar(g, value);
        return v.isPresent() && (float) v.getAsDouble() == v.getAsDouble() ? (float) v.getAsDouble() : null;
    }

    /** A 1-D initializer that the graph does not let a caller override: a projection's bias. */
    private static boolean isFrozenVector(GraphIndex g, String value) {
        TensorProto t = g.initializer(value);
        return t != null && t.getDimsCount() == 1 && !g.isGraphInput(value);
    }
}
