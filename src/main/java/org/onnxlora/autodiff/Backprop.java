package org.onnxlora.autodiff;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Reverse-mode differentiation of an ONNX graph into plain ONNX ops.
 *
 * <p>Only nodes on a path from a trainable value to a seed are differentiated:
 * the intersection of what is forward-reachable from {@code wrt} (through
 * differentiable inputs only, so shape computations and masks are cut) and what is
 * backward-reachable from the seeds. Nothing upstream of the lowest trainable
 * value is touched, and frozen initializers never get a gradient. Nodes are
 * visited in reverse topological order; a value read by several nodes gets the
 * sum of their contributions.
 *
 * <p>A trainable value that does not influence any seed is a compile error rather
 * than a silent zero gradient: for LoRA it means an adapter was attached where
 * it cannot affect the loss, which is a targeting mistake worth reporting.
 */
public final class Backprop {
    private final GradientRegistry registry;

    public Backprop(GradientRegistry registry) {
        this.registry = registry;
    }

    /**
     * Emits the backward of {@code forward} into {@code out}.
     *
     * @param seeds forward value name → name of the (externally provided) gradient of the loss w.r.t. it
     * @param wrt   values to differentiate with respect to (the trainable initializers)
     * @return wrt value name → name of its gradient value in {@code out}
     */
    public Map<String, String> build(GraphProto forward, Map<String, String> seeds, Set<String> wrt, GraphBuilder out) {
        return build(forward, seeds, wrt, out, SymbolicShapes.infer(forward));
    }

    /**
     * As {@link #build(GraphProto, Map, Set, GraphBuilder)}, with the forward's shapes inferred by the caller
     * (who may know more about the inputs than their declarations say, e.g. which dims are equal).
     * Nodes already in {@code out} (the loss producing the seeds) are taken into the shapes first.
     */
    public Map<String, String> build(GraphProto forward, Map<String, String> seeds, Set<String> wrt, GraphBuilder out,
            SymbolicShapes shapes) {
        GraphIndex index = new GraphIndex(forward);
        checkKnown(index, seeds.keySet(), "seed");
        checkKnown(index, wrt, "trainable value");
        List<Integer> order = topologicalOrder(index);

        Set<String> active = forwardReachable(index, order, wrt);
        Set<String> needed = new HashSet<>();
        for (String s : seeds.keySet()) {
            if (active.contains(s)) {
                needed.add(s);
            }
        }
        List<Integer> path = new ArrayList<>();
        for (int p = order.size() - 1; p >= 0; p--) {
            NodeProto n = index.node(order.get(p));
            if (n.getOutputList().stream().anyMatch(needed::contains)) {
                path.add(order.get(p));
                for (int i = 0; i < n.getInputCount(); i++) {
                    if (flows(n, i, active)) {
                        needed.add(n.getInput(i));
                    }
                }
            }
        }
        for (String w : wrt) {
            if (!needed.contains(w)) {
                throw new OnnxLoraException(ErrorCode.COMPILE, "trainable value '" + w
                        + "' does not influence any of the seeds " + seeds.keySet()
                        + " through differentiable ops, so its gradient would always be zero");
            }
        }

        int firstEmitted = out.nodes().size();
        GradEmitter emit = new GradEmitter(out, new ValueTypes(forward), shapes);
        seeds.forEach((value, grad) -> emit.shapes().assumeSameShape(grad, value)); // a gradient has its value's shape
        Accumulator acc = new Accumulator(emit);
        seeds.forEach((value, grad) -> {
            if (needed.contains(value)) {
                acc.add(value, grad);
            }
        });
        String savedScope = out.scope();
        try {
            for (int nodeIndex : path) {
                differentiate(index.node(nodeIndex), active, needed, acc, emit);
            }
            out.scope("/grad");
            Map<String, String> result = new LinkedHashMap<>();
            for (String w : wrt) {
                String g = acc.total(w);
                result.put(w, g != null ? g : emit.zerosLike(w));
            }
            Set<String> results = new HashSet<>(result.values());
            SymbolicShapes all = emit.shapes(); // every emitted node taken in before the passes below edit the list
            ScaleFolding.apply(forward, out, firstEmitted, results);
            TransposedProducts.apply(out, firstEmitted, results, all);
            return result;
        } finally {
            out.scope(savedScope);
        }
    }

    private void differentiate(NodeProto n, Set<String> active, Set<String> needed, Accumulator acc,
            GradEmitter emit) {
        GradientRule rule = registry.lookup(n);
        emit.builder().scope(gradScope(n));
        String[] outGrads = new String[n.getOutputCount()];
        boolean any = false;
        for (int k = 0; k < outGrads.length; k++) {
            String o = n.getOutput(k);
            if (!o.isEmpty() && needed.contains(o)) {
                outGrads[k] = acc.total(o);
                any |= outGrads[k] != null;
            }
        }
        if (!any) {
            return;
        }
        boolean[] required = new boolean[n.getInputCount()];
        for (int i = 0; i < required.length; i++) {
            required[i] = flows(n, i, active) && needed.contains(n.getInput(i));
        }
        String[] inGrads = rule.build(new GradContext(n, outGrads, required, emit));
        for (int i = 0; i < required.length; i++) {
            if (required[i] && i < inGrads.length && inGrads[i] != null) {
                acc.add(n.getInput(i), inGrads[i]);
            }
        }
    }

    private static String gradScope(NodeProto n) {
        String name = n.getName().isEmpty() ? n.getOpType() : n.getName();
        return name.startsWith("/") ? "/grad" + name : "/grad/" + name;
    }

    /** Whether a gradient can pass from node input {@code i} (if it is active) into the node. */
    private boolean flows(NodeProto n, int i, Set<String> active) {
        String in = n.getInput(i);
        if (in.isEmpty() || !active.contains(in)) {
            return false;
        }
        Optional<GradientRule> rule = registry.find(n);
        // Without a rule we cannot tell; assume it flows so that a missing rule is reported if the node matters.
        return rule.isEmpty() || rule.get().isDifferentiableInput(n, i);
    }

    private Set<String> forwardReachable(GraphIndex index, List<Integer> order, Set<String> wrt) {
        Set<String> active = new HashSet<>(wrt);
        for (int ni : order) {
            NodeProto n = index.node(ni);
            boolean flowsIn = false;
            for (int i = 0; i < n.getInputCount() && !flowsIn; i++) {
                flowsIn = flows(n, i, active);
            }
            if (!flowsIn) {
                continue;
            }
            Optional<GradientRule> rule = registry.find(n);
            for (int k = 0; k < n.getOutputCount(); k++) {
                if (!n.getOutput(k).isEmpty() && (rule.isEmpty() || rule.get().isDifferentiableOutput(n, k))) {
                    active.add(n.getOutput(k));
                }
            }
        }
        return active;
    }

    private static void checkKnown(GraphIndex index, Set<String> names, String what) {
        for (String v : names) {
            if (!index.isInitializer(v) && !index.isGraphInput(v) && index.producerOf(v) < 0) {
                throw new OnnxLoraException(ErrorCode.COMPILE, what + " '" + v + "' is not a value of the graph");
            }
        }
    }

    /** Kahn's algorithm, stable with respect to the stored order (which ONNX already requires to be topological). */
    static List<Integer> topologicalOrder(GraphIndex index) {
        int n = index.nodeCount();
        int[] pending = new int[n];
        List<List<Integer>> users = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            users.add(new ArrayList<>());
        }
        for (int i = 0; i < n; i++) {
            Set<Integer> deps = new HashSet<>();
            for (String in : index.node(i).getInputList()) {
                int p = in.isEmpty() ? -1 : index.producerOf(in);
                if (p >= 0 && p != i && deps.add(p)) {
                    users.get(p).add(i);
                }
            }
            pending[i] = deps.size();
        }
        Deque<Integer> ready = new ArrayDeque<>();
        for (int i = 0; i < n; i++) {
            if (pending[i] == 0) {
                ready.add(i);
            }
        }
        List<Integer> order = new ArrayList<>(n);
        while (!ready.isEmpty()) {
            int i = ready.poll();
            order.add(i);
            List<Integer> next = users.get(i);
            Collections.sort(next);
            for (int u : next) {
                if (--pending[u] == 0) {
                    ready.add(u);
                }
            }
        }
        if (order.size() != n) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "the graph has a cycle; cannot order its nodes");
        }
        return order;
    }

    /** Gradient contributions per value, summed once when the value's total is first asked for. */
    private static final class Accumulator {
        private final GradEmitter emit;
        private final Map<String, List<String>> parts = new HashMap<>();
        private final Map<String, String> totals = new HashMap<>();

        Accumulator(GradEmitter emit) {
            this.emit = emit;
        }

        void add(String value, String grad) {
            if (totals.containsKey(value)) {
                throw new OnnxLoraException(ErrorCode.INTERNAL, "gradient of '" + value
                        + "' received a contribution after it was consumed (node order is not topological)");
            }
            parts.computeIfAbsent(value, k -> new ArrayList<>()).add(grad);
        }

        String total(String value) {
            return totals.computeIfAbsent(value, v -> {
                List<String> p = parts.get(v);
                return p == null ? null : emit.sum(p);
            });
        }
    }
}
