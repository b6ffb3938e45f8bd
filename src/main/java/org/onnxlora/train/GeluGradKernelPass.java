package org.onnxlora.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.autodiff.rules.Gelu;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.FusedKernels;

/**
 * Replaces each float32 GELU backward that {@link Gelu} emits in stock ops (eight elementwise nodes, nine
 * FFN-wide passes) by one {@code ai.onnxlora:GeluGrad(dY, X)} of onnx-lora's kernel library ({@link FusedKernels}).
 * A session-time rewrite, like the CPU's ({@link DeviceGraphs}): the stored artifacts keep the stock ops, so a run
 * folder still trains where the library is absent.
 *
 * <p>The rule ends in {@code dY·(1 + erf(u) + (2/√π)·u·e^(−u²))}, twice the gradient; its ½ is either a scalar
 * {@code Mul} after it (taken into the fused node, {@code alpha = 1}) or was folded by the backward's scale folding
 * into the product that reads it ({@code alpha = 2}, that product's own ½ left as it is).
 */
public final class GeluGradKernelPass implements GraphPass {
    private static final double TOL = 1e-6;

    @Override
    public String name() {
        return "gelu-grad-kernel";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        // by identity: the matched nodes are the graph's own objects, and names need not be unique or present
        Set<NodeProto> drop = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<NodeProto, NodeProto> replaceAt = new IdentityHashMap<>();
        Set<String> maybeUnused = new HashSet<>();
        List<String> fused = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto erf = g.node(i);
            if (!Domains.isOp(erf, "Erf")) {
                continue;
            }
            NodeProto scale = NodePatterns.producer(g, erf.getInput(0), "Mul");
            if (scale == null || floatScalarOperand(g, scale, 1 / Math.sqrt(2)) == null) {
                continue; // not the rule's erf(x/√2)
            }
            Object m = match(g, scale, erf);
            if (m instanceof String reason) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(erf), reason));
                continue;
            }
            Match match = (Match) m;
            drop.addAll(match.nodes());
            for (NodeProto n : match.nodes()) {
                maybeUnused.addAll(n.getInputList());
            }
            replaceAt.put(match.last(), NodeProto.newBuilder().setOpType("GeluGrad").setDomain(FusedKernels.DOMAIN)
                    .setName(match.last().getName() + "/gelu_grad_kernel").addInput(match.dy()).addInput(match.x())
                    .addOutput(match.out()).addAttribute(AttributeProto.newBuilder().setName("alpha")
                            .setType(AttributeProto.AttributeType.FLOAT).setF((float) match.alpha()))
                    .build());
            fused.add(match.out());
        }
        if (replaceAt.isEmpty()) {
            return new PassResult<>(name(), graph, List.of(), refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (NodeProto n : graph.getNodeList()) {
            NodeProto f = replaceAt.get(n);
            if (f != null) {
                out.addNode(f);
            } else if (!drop.contains(n)) {
                out.addNode(n);
            }
        }
        return new PassResult<>(name(), pruneInitializers(out.build(), maybeUnused), fused, refused);
    }

    private record Match(String dy, String x, String out, double alpha, List<NodeProto> nodes, NodeProto last) {}

    /** The rest of the rule's chain after {@code Erf(Mul(x, 1/√2))}, or why it is not there. */
    private static Object match(GraphIndex g, NodeProto scale, NodeProto erf) {
        String x = floatScalarOperand(g, scale, 1 / Math.sqrt(2));
        String u = scale.getOutput(0);
        NodeProto square = null;
        NodeProto slope = null;
        int readers = 0;
        for (int c : new java.util.LinkedHashSet<>(g.consumersOf(u))) { // u·u reads u twice
            NodeProto n = g.node(c);
            readers++;
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
        if (square == null || slope == null || readers != 3 || g.isGraphOutput(u)) {
            return "x/√2 is not read by exactly u·u, erf(u) and u·e^(c − u²)";
        }
        NodeProto sub = NodePatterns.soleBinaryConsumer(g, square.getOutput(0), "Sub");
        if (sub == null || !sub.getInput(1).equals(square.getOutput(0))
                || !isFloatScalar(g, sub.getInput(0), Gelu.LOG_ERF_DENSITY_SCALE)) {
            return "u² is not read by one Sub(ln(2/√π), u²) alone";
        }
        NodeProto exp = soleConsumer(g, sub.getOutput(0), "Exp");
        if (exp == null || soleConsumer(g, exp.getOutput(0), "Mul") != slope
                || !NodePatterns.other(slope, exp.getOutput(0)).equals(u)) {
            return "the erf density is not read by one u·e^(c − u²) alone";
        }
        NodeProto sum = NodePatterns.soleBinaryConsumer(g, erf.getOutput(0), "Add");
        if (sum == null || NodePatterns.soleBinaryConsumer(g, slope.getOutput(0), "Add") != sum
                || !NodePatterns.other(sum, erf.getOutput(0)).equals(slope.getOutput(0))) {
            return "erf(u) and u·e^(c − u²) are not summed by one Add alone";
        }
        NodeProto plusOne = NodePatterns.soleBinaryConsumer(g, sum.getOutput(0), "Add");
        if (plusOne == null || !isFloatScalar(g, NodePatterns.other(plusOne, sum.getOutput(0)), 1)) {
            return "erf(u) + u·e^(c − u²) is not read by one Add(·, 1) alone";
        }
        NodeProto times = NodePatterns.soleBinaryConsumer(g, plusOne.getOutput(0), "Mul");
        if (times == null) {
            return "1 + erf(u) + u·e^(c − u²) is not read by one Mul(dY, ·) alone";
        }
        String dy = NodePatterns.other(times, plusOne.getOutput(0));
        List<NodeProto> nodes = new ArrayList<>(List.of(scale, erf, square, sub, exp, slope, sum, plusOne, times));
        NodeProto half = NodePatterns.soleBinaryConsumer(g, times.getOutput(0), "Mul");
        if (half != null && isFloatScalar(g, NodePatterns.other(half, times.getOutput(0)), 0.5)) {
            nodes.add(half);
            return new Match(dy, x, half.getOutput(0), 1, nodes, half);
        }
        return new Match(dy, x, times.getOutput(0), 2, nodes, times);
    }

    /** The other operand of binary {@code n} when one of them is a float32 scalar near {@code value}, else null. */
    private static String floatScalarOperand(GraphIndex g, NodeProto n, double value) {
        if (n.getInputCount() != 2) {
            return null;
        }
        if (isFloatScalar(g, n.getInput(1), value)) {
            return n.getInput(0);
        }
        return isFloatScalar(g, n.getInput(0), value) ? n.getInput(1) : null;
    }

    /** A float32 scalar near {@code value}: the kernels are float32 only, and the rule types its constants like x. */
    private static boolean isFloatScalar(GraphIndex g, String name, double value) {
        TensorProto t = g.initializer(name);
        boolean float32 = t != null ? t.getDataType() == DataType.FLOAT_VALUE : constantType(g, name) == DataType.FLOAT_VALUE;
        var v = NodePatterns.scalar(g, name);
        return float32 && v.isPresent() && Math.abs(v.getAsDouble() - value) <= TOL * Math.max(1, Math.abs(value));
    }

    private static int constantType(GraphIndex g, String name) {
        int p = g.producerOf(name);
        if (p < 0 || !Domains.isOp(g.node(p), "Constant")) {
            return -1;
        }
        for (AttributeProto a : g.node(p).getAttributeList()) {
            if (a.getName().equals("value") && a.hasT()) {
                return a.getT().getDataType();
            }
        }
        return -1;
    }

    private static NodeProto soleConsumer(GraphIndex g, String value, String op) {
        List<Integer> c = g.consumersOf(value);
        if (c.size() != 1 || c.get(0) < 0 || g.isGraphOutput(value)) {
            return null;
        }
        NodeProto n = g.node(c.get(0));
        return Domains.isOp(n, op) ? n : null;
    }

    /** Drops the rule's scalar initializers that nothing reads any more. */
    private static GraphProto pruneInitializers(GraphProto graph, Set<String> candidates) {
        GraphIndex idx = new GraphIndex(graph);
        GraphProto.Builder b = graph.toBuilder().clearInitializer();
        for (TensorProto t : graph.getInitializerList()) {
            if (!candidates.contains(t.getName()) || !idx.consumersOf(t.getName()).isEmpty()
                    || idx.isGraphOutput(t.getName())) {
                b.addInitializer(t);
            }
        }
        return b.build();
    }
}
