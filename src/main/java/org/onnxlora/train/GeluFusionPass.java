package org.onnxlora.train;

import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.Set;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
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
public final class GeluFusionPass {
    private static final double TOL = 1e-4;

    private GeluFusionPass() {}

    public static GraphProto apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        Set<String> drop = new HashSet<>();
        Map<String, NodeProto> replaceAt = new java.util.HashMap<>(); // name of the last node -> fused node
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto erf = g.node(i);
            if (!erf.getOpType().equals("Erf") || !isDefault(erf)) {
                continue;
            }
            Match m = match(g, erf);
            if (m != null) {
                drop.addAll(m.nodes());
                replaceAt.put(m.last(), NodeProto.newBuilder().setOpType("Gelu").setDomain(GraphBuilder.MS_DOMAIN)
                        .setName(m.last() + "/fused_gelu").addInput(m.x()).addOutput(m.y()).build());
            }
        }
        if (replaceAt.isEmpty()) {
            return graph;
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
        return pruneConstants(out.build(), maybeUnused);
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

    private record Match(String x, String y, List<String> nodes, String last) {}

    private static Match match(GraphIndex g, NodeProto erf) {
        NodeProto div = producer(g, erf.getInput(0), "Div");
        if (div == null || !near(constant(g, div.getInput(1)), Math.sqrt(2))) {
            return null;
        }
        String x = div.getInput(0);
        NodeProto add = soleConsumer(g, erf.getOutput(0), "Add");
        if (add == null || !near(constant(g, other(add, erf.getOutput(0))), 1.0)) {
            return null;
        }
        NodeProto next = soleConsumer(g, add.getOutput(0), "Mul");
        if (next == null) {
            return null;
        }
        String partner = other(next, add.getOutput(0));
        NodeProto last;
        if (partner.equals(x)) { // TorchScript: Mul(x, 1+erf) then Mul(·, 0.5)
            last = soleConsumer(g, next.getOutput(0), "Mul");
            if (last == null || !near(constant(g, other(last, next.getOutput(0))), 0.5)) {
                return null;
            }
        } else if (near(constant(g, partner), 0.5)) { // dynamo: Mul(0.5, 1+erf) then Mul(x, ·)
            last = soleConsumer(g, next.getOutput(0), "Mul");
            if (last == null || !other(last, next.getOutput(0)).equals(x)) {
                return null;
            }
        } else {
            return null;
        }
        if (g.consumersOf(div.getOutput(0)).size() != 1) {
            return null;
        }
        return new Match(x, last.getOutput(0), List.of(div.getName(), erf.getName(), add.getName(), next.getName(),
                last.getName()), last.getName());
    }

    private static boolean isDefault(NodeProto n) {
        return n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx");
    }

    private static NodeProto producer(GraphIndex g, String value, String op) {
        int p = g.producerOf(value);
        return p >= 0 && g.node(p).getOpType().equals(op) && isDefault(g.node(p)) ? g.node(p) : null;
    }

    private static NodeProto soleConsumer(GraphIndex g, String value, String op) {
        List<Integer> c = g.consumersOf(value);
        if (c.size() != 1 || c.get(0) < 0 || g.isGraphOutput(value)) {
            return null;
        }
        NodeProto n = g.node(c.get(0));
        return n.getOpType().equals(op) && isDefault(n) && n.getInputCount() == 2 ? n : null;
    }

    private static String other(NodeProto binary, String one) {
        return binary.getInput(0).equals(one) ? binary.getInput(1) : binary.getInput(0);
    }

    private static boolean near(OptionalDouble v, double want) {
        return v.isPresent() && Math.abs(v.getAsDouble() - want) <= TOL * Math.abs(want);
    }

    /** The value of a scalar constant: an initializer or the output of a Constant node. */
    static OptionalDouble constant(GraphIndex g, String value) {
        TensorProto t = g.initializer(value);
        if (t == null) {
            int p = g.producerOf(value);
            if (p >= 0 && g.node(p).getOpType().equals("Constant")) {
                for (AttributeProto a : g.node(p).getAttributeList()) {
                    if (a.getName().equals("value") && a.hasT()) {
                        t = a.getT();
                    }
                }
            }
        }
        if (t == null || Tensors.elementCount(t) != 1 || !Tensors.isFloatType(t.getDataType())) {
            return OptionalDouble.empty();
        }
        return OptionalDouble.of(Tensors.toDoubles(t)[0]);
    }
}
