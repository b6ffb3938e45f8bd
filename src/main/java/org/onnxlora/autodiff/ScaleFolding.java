package org.onnxlora.autodiff;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Folds {@code Mul(g, c)} by a scalar constant into the {@code alpha} of the
 * matrix products that read it (directly, or through a Reshape): the backward of
 * a LoRA branch's {@code ·scaling} and of attention's {@code ·1/√d} are such
 * Muls, each a full pass over a gradient that {@code FusedMatMul}/{@code Gemm}
 * apply for free. Only Muls whose every reader is such a product are folded, and
 * only by constants a float {@code alpha} holds exactly (and not by initializers
 * that are also graph inputs: those are defaults a caller may override).
 */
final class ScaleFolding {
    private ScaleFolding() {}

    /** Rewrites {@code b}'s nodes from index {@code from} on; {@code keep} are values read outside them. */
    static void apply(GraphProto forward, GraphBuilder b, int from, Set<String> keep) {
        List<NodeProto> nodes = b.nodes();
        Map<String, Double> scalars = scalars(forward, b);
        Map<String, List<Integer>> readers = new HashMap<>();
        for (int i = from; i < nodes.size(); i++) {
            for (String in : nodes.get(i).getInputList()) {
                readers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
            }
        }
        Set<Integer> dropped = new HashSet<>();
        Set<String> folded = new HashSet<>();
        for (int i = from; i < nodes.size(); i++) {
            NodeProto m = nodes.get(i);
            if (!Domains.isOp(m, "Mul") || m.getInputCount() != 2) {
                continue;
            }
            int k = scalars.containsKey(m.getInput(1)) ? 1 : scalars.containsKey(m.getInput(0)) ? 0 : -1;
            String y = m.getOutput(0);
            if (k < 0 || scalars.containsKey(m.getInput(1 - k)) || keep.contains(y)) {
                continue;
            }
            double c = scalars.get(m.getInput(k));
            String g = m.getInput(1 - k);
            List<Integer> products = new ArrayList<>();
            List<Integer> reshapes = new ArrayList<>();
            if (!foldable(nodes, readers, y, products, reshapes, keep)) {
                continue;
            }
            for (int r : reshapes) {
                nodes.set(r, nodes.get(r).toBuilder().setInput(0, g).build());
            }
            for (int p : products) {
                NodeProto n = nodes.get(p);
                float alpha = Attrs.getFloat(n, "alpha", 1f);
                NodeProto.Builder nb = n.toBuilder();
                for (int j = 0; j < nb.getInputCount(); j++) {
                    if (nb.getInput(j).equals(y)) {
                        nb.setInput(j, g);
                    }
                }
                List<AttributeProto> attrs = new ArrayList<>(nb.getAttributeList());
                attrs.removeIf(a -> a.getName().equals("alpha"));
                attrs.add(Attrs.f("alpha", (float) (alpha * c)));
                nodes.set(p, nb.clearAttribute().addAllAttribute(attrs).build());
            }
            dropped.add(i);
            folded.add(m.getInput(k));
        }
        List<NodeProto> kept = new ArrayList<>();
        for (int i = 0; i < nodes.size(); i++) {
            if (!dropped.contains(i)) {
                kept.add(nodes.get(i));
            }
        }
        nodes.clear();
        nodes.addAll(kept);
        dropUnread(b, folded);
    }

    /** Removes the backward's own scalar initializers that no node reads once their Mul is folded (ORT warns of each). */
    private static void dropUnread(GraphBuilder b, Set<String> folded) {
        Set<String> read = new HashSet<>();
        b.nodes().forEach(n -> read.addAll(n.getInputList()));
        b.initializers().removeIf(t -> folded.contains(t.getName()) && !read.contains(t.getName()));
    }

    /** Every reader of {@code y} is a product reading it once (in A or B), or a Reshape only such products read. */
    private static boolean foldable(List<NodeProto> nodes, Map<String, List<Integer>> readers, String y,
            List<Integer> products, List<Integer> reshapes, Set<String> keep) {
        List<Integer> rs = readers.getOrDefault(y, List.of());
        if (rs.isEmpty()) {
            return false;
        }
        for (int r : rs) {
            NodeProto n = nodes.get(r);
            if (isProduct(n, y)) {
                products.add(r);
            } else if (Domains.isOp(n, "Reshape") && n.getInput(0).equals(y)
                    && !n.getInput(1).equals(y) && !keep.contains(n.getOutput(0))) {
                List<Integer> next = readers.getOrDefault(n.getOutput(0), List.of());
                if (next.isEmpty() || !next.stream().allMatch(p -> isProduct(nodes.get(p), n.getOutput(0)))) {
                    return false;
                }
                reshapes.add(r);
                products.addAll(next);
            } else {
                return false;
            }
        }
        return new HashSet<>(products).size() == products.size();
    }

    private static boolean isProduct(NodeProto n, String v) {
        boolean fused = n.getOpType().equals("FusedMatMul") && n.getDomain().equals(GraphBuilder.MS_DOMAIN);
        boolean gemm = Domains.isOp(n, "Gemm");
        if (!fused && !gemm || n.getInputCount() < 2) {
            return false;
        }
        int uses = 0;
        for (int j = 0; j < n.getInputCount(); j++) {
            if (n.getInput(j).equals(v)) {
                if (j > 1) {
                    return false; // Gemm's C is scaled by beta, not alpha
                }
                uses++;
            }
        }
        return uses == 1;
    }

    /** Rank-0 or one-element float constants whose value a float alpha holds exactly. */
    private static Map<String, Double> scalars(GraphProto forward, GraphBuilder b) {
        Map<String, Double> s = new HashMap<>();
        List<TensorProto> all = new ArrayList<>(forward.getInitializerList());
        all.addAll(b.initializers());
        for (NodeProto n : forward.getNodeList()) {
            if (n.getOpType().equals("Constant") && n.getOutputCount() == 1) {
                Attrs.find(n, "value").filter(AttributeProto::hasT)
                        .ifPresent(a -> all.add(a.getT().toBuilder().setName(n.getOutput(0)).build()));
            }
        }
        Set<String> overridable = new HashSet<>();
        forward.getInputList().forEach(v -> overridable.add(v.getName()));
        for (TensorProto t : all) {
            if (!overridable.contains(t.getName()) && Tensors.isFloatType(t.getDataType()) && Tensors.elementCount(t) == 1
                    && (t.getDimsCount() == 0 || t.getDimsCount() == 1)) {
                double v = Tensors.toDoubles(t)[0];
                if ((double) (float) v == v && v != 0) {
                    s.put(t.getName(), v);
                }
            }
        }
        return s;
    }
}
