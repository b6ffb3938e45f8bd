package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Replaces the exporters' exact GELU, {@code 0.5·x·(1 + erf(x/√2))} written as five nodes, by one
 * {@code com.microsoft:Gelu(x)}.
 *
 * <p>For training this is a memory fix before it is a speed fix: the backward of the
 * decomposed form needs three FFN-wide intermediates per layer (x/√2, 1+erf, the half
 * product), the fused op's backward needs only x. Both exporters' orders are matched —
 * TorchScript {@code Mul(Mul(x, 1+erf), 0.5)} and dynamo {@code Mul(x, Mul(0.5, 1+erf))} —
 * and only when every intermediate has no other reader.
 */
public final class GeluFusionPass implements GraphPass {
    private static final double TOL = 1e-4;

    @Override
    public String name() {
        return "gelu-fusion";
    }

    /**
     * Fuses every match. A GELU candidate (an {@code Erf} of {@code Div(x, √2)}) that does not
     * match is refused with the step that failed; any other Erf is not a candidate.
     */
    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Set<String> drop = new HashSet<>();
        Map<String, NodeProto> replaceAt = new java.util.HashMap<>(); // name of the last node -> fused node
        List<String> fusedAt = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto erf = g.node(i);
            if (!Domains.isOp(erf, "Erf")) {
                continue;
            }
            NodeProto div = NodePatterns.producer(g, erf.getInput(0), "Div");
            if (div == null || !near(NodePatterns.scalar(g, div.getInput(1)), Math.sqrt(2))) {
                continue;
            }
            Attempt attempt = match(g, div, erf);
            if (attempt instanceof Match match) {
                drop.addAll(match.nodes());
                fusedAt.add(match.y());
                replaceAt.put(match.last(), NodeProto.newBuilder().setOpType("Gelu").setDomain(GraphBuilder.MS_DOMAIN)
                        .setName(match.last() + "/fused_gelu").addInput(match.x()).addOutput(match.y()).build());
            } else if (attempt instanceof NoMatch no) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(erf), no.reason()));
            }
        }
        if (replaceAt.isEmpty()) {
            return new PassResult<>(name(), graph, List.of(), refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        Set<String> maybeUnused = new HashSet<>();
        for (NodeProto n : graph.getNodeList()) {
            NodeProto fused = replaceAt.get(n.getName());
            if (drop.contains(n.getName())) {
                maybeUnused.addAll(n.getInputList());
            }
            if (fused != null) {
                out.addNode(fused);
            } else if (!drop.contains(n.getName())) {
                out.addNode(n);
            }
        }
        return new PassResult<>(name(), pruneConstants(out.build(), maybeUnused), fusedAt, refused);
    }

    /** Drops the GELU's scalar constants (initializers or Constant nodes) that nothing reads any more. */
    private static GraphProto pruneConstants(GraphProto g, Set<String> candidates) {
        GraphIndex idx = new GraphIndex(g);
        Set<String> dead = new HashSet<>();
        for (String c : candidates) {
            if (idx.consumersOf(c).isEmpty() && !idx.isGraphOutput(c)) {
                dead.add(c);
            }
        }
        GraphProto.Builder b = g.toBuilder().clearNode().clearInitializer();
        for (NodeProto n : g.getNodeList()) {
            if (!(n.getOpType().equals("Constant") && dead.contains(n.getOutput(0)))) {
                b.addNode(n);
            }
        }
        for (TensorProto t : g.getInitializerList()) {
            if (!dead.contains(t.getName())) {
                b.addInitializer(t);
            }
        }
        return b.build();
    }

    /** The outcome of matching one candidate. */
    private sealed interface Attempt permits Match, NoMatch {}

    private record Match(String x, String y, List<String> nodes, String last) implements Attempt {}

    private record NoMatch(String reason) implements Attempt {}

    /** The match of the rest of the GELU after {@code Erf(Div(x, √2))}, or why there is none. */
    private static Attempt match(GraphIndex g, NodeProto div, NodeProto erf) {
        String x = div.getInput(0);
        NodeProto add = NodePatterns.soleBinaryConsumer(g, erf.getOutput(0), "Add");
        if (add == null || !near(NodePatterns.scalar(g, NodePatterns.other(add, erf.getOutput(0))), 1.0)) {
            return new NoMatch("erf(x/√2) is not read by one Add(·, 1) alone");
        }
        NodeProto next = NodePatterns.soleBinaryConsumer(g, add.getOutput(0), "Mul");
        if (next == null) {
            return new NoMatch("1 + erf(x/√2) is not read by one Mul alone");
        }
        String partner = NodePatterns.other(next, add.getOutput(0));
        NodeProto last = NodePatterns.soleBinaryConsumer(g, next.getOutput(0), "Mul");
        if (partner.equals(x)) { // TorchScript: Mul(x, 1+erf) then Mul(·, 0.5)
            if (last == null || !near(NodePatterns.scalar(g, NodePatterns.other(last, next.getOutput(0))), 0.5)) {
                return new NoMatch("x·(1 + erf(x/√2)) is not halved by one Mul(·, 0.5) alone");
            }
        } else if (near(NodePatterns.scalar(g, partner), 0.5)) { // dynamo: Mul(0.5, 1+erf) then Mul(x, ·)
            if (last == null || !NodePatterns.other(last, next.getOutput(0)).equals(x)) {
                return new NoMatch("0.5·(1 + erf(x/√2)) is not multiplied by x in one Mul alone");
            }
        } else {
            return new NoMatch("1 + erf(x/√2) is multiplied by neither x nor 0.5");
        }
        if (g.consumersOf(div.getOutput(0)).size() != 1 || g.isGraphOutput(div.getOutput(0))) {
            return new NoMatch("x/√2 has another reader, which would lose its input");
        }
        return new Match(x, last.getOutput(0), List.of(div.getName(), erf.getName(), add.getName(), next.getName(),
                last.getName()), last.getName());
    }

    private static boolean near(OptionalDouble v, double want) {
        return v.isPresent() && Math.abs(v.getAsDouble() - want) <= TOL * Math.abs(want);
    }
}
