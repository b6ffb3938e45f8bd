package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.autodiff.rules.Gelu;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.runtime.FusedKernels;

/**
 * Replaces each float32 GELU backward that {@link Gelu} emits in stock ops (nine nodes, nine FFN-wide passes) by one
 * {@code ai.onnxlora:GeluGrad(dY, X)} of onnx-lora's kernel library ({@link FusedKernels}). A session-time rewrite,
 * like the CPU's ({@link DeviceGraphs}): the stored artifacts keep the stock ops, so a run folder still trains
 * where the library is absent.
 *
 * <p>The rule ends in {@code dY·(1 + erf(u) + (2/√π)·u·e^(−u²))}, twice the gradient; its ½ is either a scalar
 * {@code Mul} after it (taken into the fused node, {@code alpha = 1}) or was folded by the backward's scale folding
 * into the product that reads it ({@code alpha = 2}, that product's own ½ left as it is).
 */
public final class GeluGradKernelPass implements GraphPass {

    @Override
    public String name() {
        return "gelu-grad-kernel";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        return KernelMatches.run(name(), graph, GeluGradKernelPass::matchAt);
    }

    /** The rule's chain from its {@code Erf(Mul(x, 1/√2))}; null where {@code erf} is no such node. */
    private static Object matchAt(GraphIndex g, NodeProto erf) {
        if (!Domains.isOp(erf, "Erf")) {
            return null;
        }
        NodeProto scale = NodePatterns.producer(g, erf.getInput(0), "Mul");
        if (scale == null || KernelMatches.otherThanScalar(g, scale, 1 / Math.sqrt(2)) == null) {
            return null; // not the rule's erf(x/√2)
        }
        return match(g, scale, erf);
    }

    /** The rest of the rule's chain after {@code Erf(Mul(x, 1/√2))}, or why it is not there. */
    private static Object match(GraphIndex g, NodeProto scale, NodeProto erf) {
        String x = KernelMatches.otherThanScalar(g, scale, 1 / Math.sqrt(2));
        String u = scale.getOutput(0);
        NodeProto square = null;
        NodeProto slope = null;
        List<NodeProto> readers = KernelMatches.readers(g, u); // u·u reads u twice
        for (NodeProto n : readers) {
            if (n == erf) {
                continue;
            }
            if (Domains.isOp(n, "Mul") && n.getInputCount() == 2 && n.getInput(0).equals(u) && n.getInput(1).equals(u)) {
                square = n;
            } else if (Domains.isOp(n, "Mul") && n.getInputCount() == 2) {
                slope = n;
            } else {
                return "x/√2 has a reader outside the GELU backward: " + GraphIndex.describe(n);
            }
        }
        if (square == null || slope == null || readers.size() != 3 || g.isGraphOutput(u)) {
            return "x/√2 is not read by exactly u·u, erf(u) and u·e^(c − u²)";
        }
        NodeProto sub = NodePatterns.soleBinaryConsumer(g, square.getOutput(0), "Sub");
        if (sub == null || !sub.getInput(1).equals(square.getOutput(0))
                || !KernelMatches.isFloatScalar(g, sub.getInput(0), Gelu.LOG_ERF_DENSITY_SCALE)) {
            return "u² is not read by one Sub(ln(2/√π), u²) alone";
        }
        NodeProto exp = NodePatterns.soleConsumer(g, sub.getOutput(0), "Exp");
        if (exp == null || NodePatterns.soleConsumer(g, exp.getOutput(0), "Mul") != slope
                || !NodePatterns.other(slope, exp.getOutput(0)).equals(u)) {
            return "the erf density is not read by one u·e^(c − u²) alone";
        }
        NodeProto sum = NodePatterns.soleBinaryConsumer(g, erf.getOutput(0), "Add");
        if (sum == null || NodePatterns.soleBinaryConsumer(g, slope.getOutput(0), "Add") != sum
                || !NodePatterns.other(sum, erf.getOutput(0)).equals(slope.getOutput(0))) {
            return "erf(u) and u·e^(c − u²) are not summed by one Add alone";
        }
        NodeProto plusOne = NodePatterns.soleBinaryConsumer(g, sum.getOutput(0), "Add");
        if (plusOne == null || !KernelMatches.isFloatScalar(g, NodePatterns.other(plusOne, sum.getOutput(0)), 1)) {
            return "erf(u) + u·e^(c − u²) is not read by one Add(·, 1) alone";
        }
        NodeProto times = NodePatterns.soleBinaryConsumer(g, plusOne.getOutput(0), "Mul");
        if (times == null) {
            return "1 + erf(u) + u·e^(c − u²) is not read by one Mul(dY, ·) alone";
        }
        String dy = NodePatterns.other(times, plusOne.getOutput(0));
        List<NodeProto> nodes = new ArrayList<>(List.of(scale, erf, square, sub, exp, slope, sum, plusOne, times));
        NodeProto last = times;
        double alpha = 2;
        NodeProto half = NodePatterns.soleBinaryConsumer(g, times.getOutput(0), "Mul");
        if (half != null && KernelMatches.isFloatScalar(g, NodePatterns.other(half, times.getOutput(0)), 0.5)) {
            nodes.add(half);
            last = half;
            alpha = 1;
        }
        return new KernelMatches.Match(nodes, last,
                KernelMatches.kernelNode("GeluGrad", last, List.of(dy, x), last.getOutput(0), "alpha", alpha));
    }
}
