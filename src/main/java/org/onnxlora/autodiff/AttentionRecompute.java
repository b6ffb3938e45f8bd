package org.onnxlora.autodiff;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Makes the backward read recomputed attention probabilities instead of the forward's, so each forward
 * {@code Softmax} output (and the casts/reshapes of it the backward reads) dies after the forward's
 * probabilities·V product, as with PyTorch's SDPA. Works on a training graph whose nodes before
 * {@code gradientStart} are the forward (model and loss) and whose later nodes are the backward.
 *
 * <p>For each attention softmax (a {@code Softmax} whose input is, within a few elementwise/cast/reshape steps,
 * a {@code MatMul}: the score product with its scale and mask), the chain from the score product to the softmax
 * is emitted again, reading the forward's Q and K and the same scale and mask, and the gradient nodes that read
 * the probabilities read the copy. Two details keep ONNX Runtime from undoing it:
 * <ul>
 *   <li>The copy's score product is a {@code FusedMatMul} (the forward's is a {@code MatMul}), so common
 *       subexpression elimination cannot merge the copy into the forward and keep the forward's scores alive.</li>
 *   <li>The copy depends on a backward value: an exact zero computed from one element of the gradient its first
 *       reader also reads ({@code 0·(g₀ = g₀)}: zero whatever g holds) is added to the chain's smallest side input
 *       (the scale, else the mask). ORT orders nodes by a depth-first walk back from the outputs that explores a
 *       node's highest-index input first, which would otherwise run a copy right after the forward, before the
 *       backward of the later layers, with every copy alive at once.</li>
 * </ul>
 */
public final class AttentionRecompute {
    public static final String NAME = "attention-recompute";
    /** Node-name scope of the copies: they are backward nodes ({@code /grad/...}), as tools count them. */
    public static final String SCOPE = "/grad/recompute";
    private static final int MAX_CHAIN = 6;
    private static final Set<String> CHAIN_OPS = Set.of("Add", "Sub", "Mul", "Div", "Cast", "Reshape", "Where",
            "Identity");
    /** Ops between the probabilities and the probabilities·V product that the backward may read the output of. */
    private static final Set<String> DERIVED_OPS = Set.of("Cast", "Reshape", "Identity");

    private AttentionRecompute() {}

    public static PassResult<GraphProto> apply(GraphProto graph, int gradientStart) {
        GraphIndex index = new GraphIndex(graph);
        ValueTypes types = new ValueTypes(graph);
        NameGen names = new NameGen(index.allNames());
        GraphBuilder b = new GraphBuilder(names);
        Map<String, String> redirect = new HashMap<>();
        Map<Integer, List<NodeProto>> insertBefore = new HashMap<>();
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < gradientStart; i++) {
            NodeProto s = index.node(i);
            if (!s.getOpType().equals("Softmax") || !Domains.isDefault(s.getDomain())) {
                continue;
            }
            String subject = s.getName().isEmpty() ? s.getOutput(0) : s.getName();
            List<Integer> chain = scoreChain(index, s.getInput(0), gradientStart);
            if (chain == null) {
                refused.add(new PassResult.Refusal(subject, "no MatMul within " + MAX_CHAIN
                        + " elementwise, cast or reshape steps before it (not an attention softmax)"));
                continue;
            }
            // the probabilities and what the forward derives from them on the way to probabilities·V
            List<Integer> derived = new ArrayList<>();
            Set<String> kept = new LinkedHashSet<>(List.of(s.getOutput(0)));
            for (int k = i + 1; k < gradientStart; k++) {
                NodeProto n = index.node(k);
                if (DERIVED_OPS.contains(n.getOpType()) && Domains.isDefault(n.getDomain()) && n.getInputCount() > 0
                        && kept.contains(n.getInput(0))) {
                    derived.add(k);
                    kept.add(n.getOutput(0));
                }
            }
            List<Integer> readers = new ArrayList<>();
            for (String v : kept) {
                for (int c : index.consumersOf(v)) {
                    if (c >= gradientStart && !readers.contains(c)) {
                        readers.add(c);
                    }
                }
            }
            if (readers.isEmpty()) {
                refused.add(new PassResult.Refusal(subject, "the backward does not read its output"));
                continue;
            }
            readers.sort(null);
            String dependency = earliestGradient(index, types, readers, kept, gradientStart);
            if (dependency == null || index.producerOf(dependency) > readers.get(0)) {
                refused.add(new PassResult.Refusal(subject, "its first backward reader reads no floating-point"
                        + " gradient to order the recomputation after"));
                continue;
            }
            int first = b.nodes().size();
            b.scope(SCOPE + (subject.startsWith("/") ? subject : "/" + subject));
            Map<String, String> copies = emit(b, index, types, chain, s, derived, kept, readers, dependency);
            redirect.putAll(copies);
            insertBefore.put(readers.get(0), new ArrayList<>(b.nodes().subList(first, b.nodes().size())));
            changed.add(subject);
        }
        if (changed.isEmpty()) {
            return new PassResult<>(NAME, graph, changed, refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int k = 0; k < index.nodeCount(); k++) {
            List<NodeProto> before = insertBefore.get(k);
            if (before != null) {
                out.addAllNode(before);
            }
            NodeProto n = index.node(k);
            if (k >= gradientStart && n.getInputList().stream().anyMatch(redirect::containsKey)) {
                NodeProto.Builder nb = n.toBuilder();
                for (int j = 0; j < n.getInputCount(); j++) {
                    nb.setInput(j, redirect.getOrDefault(n.getInput(j), n.getInput(j)));
                }
                n = nb.build();
            }
            out.addNode(n);
        }
        out.addAllInitializer(b.initializers());
        return new PassResult<>(NAME, out.build(), changed, refused);
    }

    /**
     * The forward nodes from the score product to the node before the softmax (product first), following the
     * input that leads to a {@code MatMul}; null when there is none within {@link #MAX_CHAIN} steps.
     */
    private static List<Integer> scoreChain(GraphIndex index, String value, int gradientStart) {
        int p = index.producerOf(value);
        if (p < 0 || p >= gradientStart) {
            return null;
        }
        NodeProto n = index.node(p);
        if (n.getOpType().equals("MatMul") && Domains.isDefault(n.getDomain())) {
            return new ArrayList<>(List.of(p));
        }
        return scoreChainFrom(index, p, gradientStart, 1);
    }

    private static List<Integer> scoreChainFrom(GraphIndex index, int p, int gradientStart, int depth) {
        NodeProto n = index.node(p);
        if (n.getOpType().equals("MatMul") && Domains.isDefault(n.getDomain())) {
            return new ArrayList<>(List.of(p));
        }
        if (depth > MAX_CHAIN || !CHAIN_OPS.contains(n.getOpType()) || !Domains.isDefault(n.getDomain())) {
            return null;
        }
        // Reshape's shape, Where's condition and Cast have one data input that can lead to the scores
        int inputs = n.getOpType().equals("Reshape") || n.getOpType().equals("Cast") ? 1 : n.getInputCount();
        for (int j = n.getOpType().equals("Where") ? 1 : 0; j < inputs; j++) {
            int q = n.getInput(j).isEmpty() ? -1 : index.producerOf(n.getInput(j));
            if (q >= 0 && q < gradientStart) {
                List<Integer> c = scoreChainFrom(index, q, gradientStart, depth + 1);
                if (c != null) {
                    c.add(p);
                    return c;
                }
            }
        }
        return null;
    }

    /** The floating-point gradient, read by one of the readers, that the backward computes first. */
    private static String earliestGradient(GraphIndex index, ValueTypes types, List<Integer> readers, Set<String> kept,
            int gradientStart) {
        String best = null;
        int bestAt = Integer.MAX_VALUE;
        for (int r : readers) {
            for (String in : index.node(r).getInputList()) {
                int p = in.isEmpty() || kept.contains(in) ? -1 : index.producerOf(in);
                if (p >= gradientStart && p < bestAt && isFloat(types.dtype(in))) {
                    best = in;
                    bestAt = p;
                }
            }
        }
        return best;
    }

    private static boolean isFloat(int t) {
        return t == DataType.FLOAT_VALUE || t == DataType.FLOAT16_VALUE || t == DataType.BFLOAT16_VALUE
                || t == DataType.DOUBLE_VALUE;
    }

    /** Emits the copy; returns forward value → its recomputed copy, for the values the readers read. */
    private static Map<String, String> emit(GraphBuilder b, GraphIndex index, ValueTypes types, List<Integer> chain,
            NodeProto softmax, List<Integer> derived, Set<String> kept, List<Integer> readers, String dependency) {
        // where the zero that orders the copy goes: a constant side input if there is one, else the first other
        // side input (the mask), else the softmax's input
        Set<String> chainValues = new HashSet<>();
        chain.forEach(c -> chainValues.add(index.node(c).getOutput(0)));
        int zeroNode = -1;
        int zeroInput = -1;
        boolean constant = false;
        for (int c : chain.subList(1, chain.size())) {
            NodeProto n = index.node(c);
            if (!Set.of("Add", "Sub", "Mul", "Div").contains(n.getOpType())) {
                continue;
            }
            for (int j = 0; j < n.getInputCount(); j++) {
                String in = n.getInput(j);
                if (chainValues.contains(in) || !isFloat(types.dtype(in))) {
                    continue;
                }
                int p = index.producerOf(in);
                boolean isConstant = index.isInitializer(in) || (p >= 0 && index.node(p).getOpType().equals("Constant"));
                if (zeroNode < 0 || (isConstant && !constant)) {
                    zeroNode = c;
                    zeroInput = j;
                    constant = isConstant;
                }
            }
        }
        Map<String, String> copy = new LinkedHashMap<>();
        NodeProto product = index.node(chain.get(0));
        String prev = b.opIn(GraphBuilder.MS_DOMAIN, "FusedMatMul", product.getInputList(), Attrs.f("alpha", 1f));
        copy.put(product.getOutput(0), prev);
        for (int c : chain.subList(1, chain.size())) {
            NodeProto n = index.node(c);
            List<String> ins = new ArrayList<>();
            for (int j = 0; j < n.getInputCount(); j++) {
                String in = copy.getOrDefault(n.getInput(j), n.getInput(j));
                if (c == zeroNode && j == zeroInput) {
                    in = b.op("Add", in, zero(b, dependency, types.dtype(dependency), types.dtype(n.getInput(j))));
                }
                ins.add(in);
            }
            prev = b.op(n.getOpType(), ins, n.getAttributeList().toArray(new AttributeProto[0]));
            copy.put(n.getOutput(0), prev);
        }
        String scores = prev;
        if (zeroNode < 0) {
            scores = b.op("Add", scores, zero(b, dependency, types.dtype(dependency), types.dtype(softmax.getInput(0))));
        }
        Map<String, String> recomputed = new LinkedHashMap<>();
        recomputed.put(softmax.getOutput(0), b.op("Softmax", List.of(scores),
                softmax.getAttributeList().toArray(new AttributeProto[0])));
        Set<String> read = new HashSet<>();
        readers.forEach(r -> read.addAll(index.node(r).getInputList()));
        // copy a derived value only when the backward reads it or a value derived from it
        Set<String> needed = new HashSet<>();
        for (int k = derived.size() - 1; k >= 0; k--) {
            NodeProto n = index.node(derived.get(k));
            if (read.contains(n.getOutput(0)) || needed.contains(n.getOutput(0))) {
                needed.add(n.getOutput(0));
                needed.add(n.getInput(0));
            }
        }
        for (int d : derived) {
            NodeProto n = index.node(d);
            if (!needed.contains(n.getOutput(0))) {
                continue;
            }
            List<String> ins = new ArrayList<>(n.getInputList());
            ins.set(0, recomputed.get(n.getInput(0)));
            recomputed.put(n.getOutput(0), b.op(n.getOpType(), ins,
                    n.getAttributeList().toArray(new AttributeProto[0])));
        }
        recomputed.keySet().retainAll(read);
        return recomputed;
    }

    /**
     * An exact zero of {@code dtype} that ONNX Runtime can compute only once {@code gradient} exists: {@code g₀ = g₀}
     * is false only for NaN, so {@code 0·cast(g₀ = g₀)} is zero whatever g holds (no Inf·0). Only ops with CUDA
     * kernels that the training graph uses already.
     */
    private static String zero(GraphBuilder b, String gradient, int gradientType, int dtype) {
        String first = b.op("Gather", List.of(b.op("Flatten", gradient, Attrs.i("axis", 0)), b.int0(0)),
                Attrs.i("axis", 1));
        if (gradientType != DataType.FLOAT_VALUE) {
            // compared in float32, whose Equal every provider has
            first = b.op("Cast", first, Attrs.i("to", DataType.FLOAT_VALUE));
        }
        String z = b.op("Mul", b.op("Cast", b.op("Equal", first, first), Attrs.i("to", DataType.FLOAT_VALUE)),
                b.scalar(0, DataType.FLOAT_VALUE));
        return dtype == DataType.FLOAT_VALUE || dtype == ValueTypes.UNKNOWN ? z : b.op("Cast", z, Attrs.i("to", dtype));
    }
}
