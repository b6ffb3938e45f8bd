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
 *
 * <p>The backward has the mirror image: the key's and the value's gradients come out of their products
 * transposed ({@code Aᵀ·B} of shape {@code [batch, heads, head, source]}) and a {@code Transpose [0, 3, 1, 2]}
 * turns them back into {@code [batch, source, heads, head]}, again moving the innermost axis on one thread (at
 * 16 threads the tiny model's ten such copies took 6.2 ms a step, 2.7 times what they took at 2). Where the
 * product is the transpose's only reader, it computes the transposed result instead,
 * {@code (op(A)·op(B))ᵀ = op(B)ᵀ·op(A)ᵀ}: its operands swap and each takes the other transpose flag, and the
 * {@code Transpose} becomes a head merge {@code [0, 2, 1, 3]} (the swap alone: it goes). Both operands must be
 * known to be at least matrices, since a vector operand does not commute that way.
 */
public final class TransposeIntoProductsPass implements GraphPass {
    private static final long[] SWAP = {0, 1, 3, 2};
    private static final long[] HEAD_SPLIT_THEN_SWAP = {0, 2, 3, 1};
    private static final long[] SWAP_THEN_HEAD_MERGE = {0, 3, 1, 2};

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
        Map<Integer, String> readersRefused = new HashMap<>();
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
                if (swapOnly) {
                    readersRefused.put(i, why); // its producer may still take the swap, below
                } else {
                    refused.add(new PassResult.Refusal(GraphIndex.describe(t), why));
                }
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
        // the producers second, so that each swaps the operands of its readers' rewrite, which flips by position
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto t = graph.getNode(i);
            long[] perm = Domains.isOp(t, "Transpose") ? Attrs.getInts(t, "perm") : null;
            boolean swapOnly = Arrays.equals(perm, SWAP);
            if (!(swapOnly && readersRefused.containsKey(i)) && !Arrays.equals(perm, SWAP_THEN_HEAD_MERGE)) {
                continue;
            }
            if (g == null) {
                g = new GraphIndex(graph);
                shapes = SymbolicShapes.infer(graph);
            }
            int p = g.producerOf(t.getInput(0));
            String why = whyNotProducer(g, shapes, p, t.getInput(0), i);
            if (why != null) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(t), swapOnly ? readersRefused.get(i) + "; " + why : why));
                continue;
            }
            NodeProto product = swapped(rewritten.getOrDefault(p, g.node(p)));
            relaid.add(t.getInput(0));
            if (swapOnly) {
                // the product writes the transpose's output itself
                rewritten.put(p, product.toBuilder().setOutput(0, t.getOutput(0)).build());
                dropped.add(i);
            } else {
                rewritten.put(p, product);
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

    /** Why the product at {@code p} cannot write {@code value}, read by the transpose at {@code t}, transposed instead. */
    private static String whyNotProducer(GraphIndex g, SymbolicShapes shapes, int p, String value, int t) {
        if (p < 0) {
            return "the transposed value is not a node's output";
        }
        NodeProto n = g.node(p);
        if (!Domains.isOp(n, "MatMul") && !isPlainFusedMatMul(n)) {
            return "made by " + GraphIndex.describe(n) + ", not by a matrix product";
        }
        if (g.isGraphOutput(value) || !g.consumersOf(value).equals(List.of(t))) {
            return "the product's output has other readers than the transpose";
        }
        for (int k = 0; k < 2; k++) {
            if (shapes.rank(n.getInput(k)) < 2) {
                return "operand " + k + " of " + GraphIndex.describe(n) + " is not known to be a matrix or a stack of them";
            }
        }
        return null;
    }

    /** {@code n} (a MatMul or FusedMatMul) writing its product transposed: operands swapped, flags exchanged. */
    private static NodeProto swapped(NodeProto n) {
        boolean transA = Attrs.getInt(n, "transA", 0) != 0;
        boolean transB = Attrs.getInt(n, "transB", 0) != 0;
        NodeProto.Builder b = n.toBuilder().clearAttribute().setInput(0, n.getInput(1)).setInput(1, n.getInput(0));
        if (Domains.isOp(n, "MatMul")) {
            b.setOpType("FusedMatMul").setDomain(GraphBuilder.MS_DOMAIN).addAttribute(Attrs.f("alpha", 1f));
        }
        for (AttributeProto a : n.getAttributeList()) {
            if (!a.getName().equals("transA") && !a.getName().equals("transB")) {
                b.addAttribute(a);
            }
        }
        return b.addAttribute(Attrs.i("transA", transB ? 0 : 1)).addAttribute(Attrs.i("transB", transA ? 0 : 1)).build();
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
