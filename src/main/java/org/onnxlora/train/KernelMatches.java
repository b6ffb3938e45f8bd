package org.onnxlora.train;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NodePatterns;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.runtime.FusedKernels;

/**
 * What the fused-kernel passes share: float32 scalar tests, distinct readers, and the rewrite that swaps each matched
 * chain of stock ops for its one {@value FusedKernels#DOMAIN} node and drops the constants nothing reads any more.
 */
final class KernelMatches {
    private static final double TOL = 1e-6;

    private KernelMatches() {}

    /** A matched chain: its nodes (the graph's own objects), the last of them, and the node that replaces them. */
    record Match(List<NodeProto> nodes, NodeProto last, NodeProto fused) {}

    /** The kernel node {@code op(inputs) -> output} with one float attribute. */
    static NodeProto kernelNode(String op, NodeProto last, List<String> inputs, String output, String attr,
            double value) {
        return NodeProto.newBuilder().setOpType(op).setDomain(FusedKernels.DOMAIN)
                .setName(last.getName() + "/" + op + "_kernel").addAllInput(inputs).addOutput(output)
                .addAttribute(AttributeProto.newBuilder().setName(attr).setType(AttributeProto.AttributeType.FLOAT)
                        .setF((float) value))
                .build();
    }

    /**
     * Tries {@code matchAt} on every node of {@code graph} and rewrites what it matched. It answers null where
     * the node is not a candidate, a reason where it is one that does not match, else the {@link Match}.
     */
    static PassResult<GraphProto> run(String pass, GraphProto graph,
            java.util.function.BiFunction<GraphIndex, NodeProto, Object> matchAt) {
        GraphIndex g = new GraphIndex(graph);
        List<Match> matches = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            Object m = matchAt.apply(g, g.node(i));
            if (m instanceof String reason) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(g.node(i)), reason));
            } else if (m instanceof Match match) {
                matches.add(match);
            }
        }
        return rewrite(pass, graph, matches, refused);
    }

    /** {@code graph} with every match's nodes replaced by its kernel node, at the position of the match's last. */
    private static PassResult<GraphProto> rewrite(String pass, GraphProto graph, List<Match> matches,
            List<PassResult.Refusal> refused) {
        if (matches.isEmpty()) {
            return new PassResult<>(pass, graph, List.of(), refused);
        }
        // by identity: names need not be unique or present
        Set<NodeProto> drop = Collections.newSetFromMap(new IdentityHashMap<>());
        Map<NodeProto, NodeProto> replaceAt = new IdentityHashMap<>();
        Set<String> maybeUnused = new HashSet<>();
        List<String> changed = new ArrayList<>();
        for (Match m : matches) {
            drop.addAll(m.nodes());
            m.nodes().forEach(n -> maybeUnused.addAll(n.getInputList()));
            replaceAt.put(m.last(), m.fused());
            changed.add(m.fused().getOutput(0));
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
        GraphProto g = out.build();
        GraphIndex idx = new GraphIndex(g);
        GraphProto.Builder pruned = g.toBuilder().clearInitializer();
        for (TensorProto t : g.getInitializerList()) {
            if (!maybeUnused.contains(t.getName()) || !idx.consumersOf(t.getName()).isEmpty()
                    || idx.isGraphOutput(t.getName())) {
                pruned.addInitializer(t);
            }
        }
        return new PassResult<>(pass, pruned.build(), changed, refused);
    }

    /** The other operand of binary {@code n} when one of them is a float32 scalar near {@code value}, else null. */
    static String otherThanScalar(GraphIndex g, NodeProto n, double value) {
        if (n.getInputCount() != 2) {
            return null;
        }
        if (isFloatScalar(g, n.getInput(1), value)) {
            return n.getInput(0);
        }
        return isFloatScalar(g, n.getInput(0), value) ? n.getInput(1) : null;
    }

    /** A float32 scalar near {@code value}: the kernels are float32 only, and the rules type constants like x. */
    static boolean isFloatScalar(GraphIndex g, String name, double value) {
        var v = floatScalar(g, name);
        return v != null && Math.abs(v - value) <= TOL * Math.max(1, Math.abs(value));
    }

    /** The value of a float32 scalar constant, or null. */
    static Double floatScalar(GraphIndex g, String name) {
        TensorProto t = NodePatterns.constant(g, name);
        var v = NodePatterns.scalar(g, name);
        return t != null && t.getDataType() == DataType.FLOAT_VALUE && v.isPresent() ? v.getAsDouble() : null;
    }

    /** The distinct nodes reading {@code value} (a node reading it twice counts once). */
    static List<NodeProto> readers(GraphIndex g, String value) {
        List<NodeProto> out = new ArrayList<>();
        for (int c : new java.util.LinkedHashSet<>(g.consumersOf(value))) {
            out.add(g.node(c));
        }
        return out;
    }
}
