package org.onnxlora.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.PassResult;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * For ONNX Runtime's CPU provider: the key's transpose of an attention, {@code Transpose(k, [0, 2, 3, 1])}
 * from {@code [batch, source, heads, head]} to {@code [batch, heads, head, source]}, read only as an
 * operand of matrix products (the scores {@code Q·Kᵀ}, the query's gradient, a recomputed score), becomes
 * the plain head split {@code [0, 2, 1, 3]}, each product taking its operand transposed instead.
 *
 * <p>Why: the key's transpose moves the innermost axis, so ONNX Runtime's CPU kernel copies it one
 * element at a time, on one thread; a head split moves blocks of a head's width, which
 * {@link HeadCopyPass} (run after this pass) turns into a Gather on the intra-op threads. The products
 * lose nothing: MLAS packs a transposed operand as it packs a plain one.
 *
 * <p>Generally: a {@code Transpose} whose permutation is a head split followed by a swap of the last two
 * axes, or that swap alone, is rewritten when every reader is a {@code MatMul} or {@code FusedMatMul}
 * operand, or a {@code Mul} by a scalar (the SDPA exports scale the transposed key) whose readers all
 * are. A product reading the value in both operands, a batch-transposed FusedMatMul, or any other
 * reader keeps the transpose (reported as refused).
 */
public final class TransposeIntoProductsPass implements GraphPass {
    private static final long[] SWAP = {0, 1, 3, 2};
    private static final long[] HEAD_SPLIT_THEN_SWAP = {0, 2, 3, 1};

    @Override
    public String name() {
        return "transpose-into-products";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = null;
        SymbolicShapes shapes = null;
        Map<Integer, NodeProto> rewritten = new HashMap<>();
        Set<Integer> dropped = new HashSet<>();
        Map<String, String> renamed = new HashMap<>();
        Set<String> relaid = new HashSet<>();
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto t = graph.getNode(i);
            long[] perm = Domains.isOp(t, "Transpose") ? Attrs.getInts(t, "perm") : null;
            boolean swapOnly = Arrays.equals(perm, SWAP);
            if (!swapOnly && !Arrays.equals(perm, HEAD_SPLIT_THEN_SWAP)) {
                continue;
            }
            if (g == null) {
                g = new GraphIndex(graph);
                shapes = SymbolicShapes.infer(graph);
            }
            Map<Integer, NodeProto> readers = new HashMap<>();
            String why = flipReaders(g, shapes, t.getOutput(0), rewritten, readers, true);
            if (why != null) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(t), why));
                continue;
            }
            rewritten.putAll(readers);
            relaid.add(t.getOutput(0));
            readers.values().stream().filter(n -> Domains.isOp(n, "Mul")).forEach(n -> relaid.add(n.getOutput(0)));
            if (swapOnly) {
                // the swap alone: the products read the transpose's input as it is
                dropped.add(i);
                renamed.put(t.getOutput(0), t.getInput(0));
            } else {
                rewritten.put(i, t.toBuilder().clearAttribute().addAttribute(Attrs.ints("perm", 0, 2, 1, 3)).build());
            }
            changed.add(GraphIndex.describe(t));
        }
        if (changed.isEmpty()) {
            return new PassResult<>(name(), graph, changed, refused);
        }
        // the values laid out anew lose their declared shapes, which ONNX Runtime would check against its own
        GraphProto.Builder out = graph.toBuilder().clearNode().clearValueInfo();
        graph.getValueInfoList().stream().filter(v -> !relaid.contains(v.getName())).forEach(out::addValueInfo);
        for (int i = 0; i < graph.getNodeCount(); i++) {
            if (dropped.contains(i)) {
                continue;
            }
            NodeProto.Builder n = rewritten.getOrDefault(i, graph.getNode(i)).toBuilder();
            for (int k = 0; k < n.getInputCount(); k++) {
                n.setInput(k, renamed.getOrDefault(n.getInput(k), n.getInput(k)));
            }
            out.addNode(n.build());
        }
        return new PassResult<>(name(), out.build(), changed, refused);
    }

    /**
     * Collects into {@code out} each reader of {@code value} rewritten to take it transposed (starting from
     * its {@code earlier} rewrite, if any); returns why one cannot, or null. {@code throughScale}: a scalar
     * Mul may sit between the value and its products.
     */
    private static String flipReaders(GraphIndex g, SymbolicShapes shapes, String value,
            Map<Integer, NodeProto> earlier, Map<Integer, NodeProto> out, boolean throughScale) {
        if (g.isGraphOutput(value)) {
            return "the transposed value is a graph output";
        }
        List<Integer> readers = g.consumersOf(value);
        if (readers.isEmpty()) {
            return "nothing reads the transposed value";
        }
        for (int c : readers) {
            if (c < 0) {
                return "a subgraph reads the transposed value";
            }
            NodeProto n = g.node(c);
            int operand = n.getInputList().indexOf(value);
            boolean once = n.getInputList().lastIndexOf(value) == operand;
            if (once && operand <= 1 && (Domains.isOp(n, "MatMul") || isPlainFusedMatMul(n))) {
                out.put(c, flipped(out.getOrDefault(c, earlier.getOrDefault(c, n)), operand));
            } else if (once && throughScale && Domains.isOp(n, "Mul") && isScalar(shapes, n.getInput(1 - operand))) {
                String why = flipReaders(g, shapes, n.getOutput(0), earlier, out, false);
                if (why != null) {
                    return why;
                }
                out.put(c, n); // unchanged, but its output is laid out anew
            } else {
                return "read by " + GraphIndex.describe(n) + ", not only as a matrix product's operand";
            }
        }
        return null;
    }

    private static boolean isPlainFusedMatMul(NodeProto n) {
        return n.getOpType().equals("FusedMatMul") && n.getDomain().equals(GraphBuilder.MS_DOMAIN)
                && Attrs.getInt(n, "transBatchA", 0) == 0 && Attrs.getInt(n, "transBatchB", 0) == 0;
    }

    private static boolean isScalar(SymbolicShapes shapes, String value) {
        long[] dims = shapes.constantDims(value);
        if (dims == null) {
            return false;
        }
        for (long d : dims) {
            if (d != 1) {
                return false;
            }
        }
        return dims.length <= 4;
    }

    /** {@code n} (a MatMul or FusedMatMul) reading its operand {@code k} transposed once more. */
    private static NodeProto flipped(NodeProto n, int k) {
        String flag = k == 0 ? "transA" : "transB";
        boolean was = Attrs.getInt(n, flag, 0) != 0;
        NodeProto.Builder b = n.toBuilder().clearAttribute();
        if (Domains.isOp(n, "MatMul")) {
            b.setOpType("FusedMatMul").setDomain(GraphBuilder.MS_DOMAIN).addAttribute(Attrs.f("alpha", 1f));
        }
        for (AttributeProto a : n.getAttributeList()) {
            if (!a.getName().equals(flag)) {
                b.addAttribute(a);
            }
        }
        return b.addAttribute(Attrs.i(flag, was ? 0 : 1)).build();
    }
}
