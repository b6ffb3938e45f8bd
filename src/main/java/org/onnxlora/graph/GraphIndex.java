package org.onnxlora.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Read-only lookups over one graph: who produces a value, who consumes it, which
 * values are initializers, inputs or outputs. Passes build one, decide, then edit
 * a builder; the index is rebuilt rather than patched so it never goes stale.
 */
public final class GraphIndex {
    private final GraphProto graph;
    private final Map<String, Integer> producer = new HashMap<>();
    private final Map<String, List<Integer>> consumers = new HashMap<>();
    private final Map<String, TensorProto> initializers = new LinkedHashMap<>();
    private final Map<String, ValueInfoProto> inputs = new LinkedHashMap<>();
    private final Map<String, ValueInfoProto> outputs = new LinkedHashMap<>();
    private final Map<String, ValueInfoProto> valueInfo = new HashMap<>();

    public GraphIndex(GraphProto graph) {
        this.graph = graph;
        for (TensorProto t : graph.getInitializerList()) {
            initializers.put(t.getName(), t);
        }
        for (ValueInfoProto v : graph.getInputList()) {
            inputs.put(v.getName(), v);
        }
        for (ValueInfoProto v : graph.getOutputList()) {
            outputs.put(v.getName(), v);
        }
        for (ValueInfoProto v : graph.getValueInfoList()) {
            valueInfo.put(v.getName(), v);
        }
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto n = graph.getNode(i);
            for (String out : n.getOutputList()) {
                if (!out.isEmpty()) {
                    producer.put(out, i);
                }
            }
            for (String in : n.getInputList()) {
                if (!in.isEmpty()) {
                    consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(i);
                }
            }
            // Subgraphs (If/Loop bodies) may read outer values implicitly.
            n.getAttributeList().forEach(a -> {
                if (a.hasG()) {
                    outerReads(a.getG()).forEach(v -> consumers.computeIfAbsent(v, k -> new ArrayList<>()).add(-1));
                }
                a.getGraphsList().forEach(g -> outerReads(g)
                        .forEach(v -> consumers.computeIfAbsent(v, k -> new ArrayList<>()).add(-1)));
            });
        }
    }

    private static Set<String> outerReads(GraphProto g) {
        Set<String> defined = new HashSet<>();
        g.getInputList().forEach(v -> defined.add(v.getName()));
        g.getInitializerList().forEach(t -> defined.add(t.getName()));
        Set<String> reads = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !defined.contains(in)) {
                    reads.add(in);
                }
            }
            defined.addAll(n.getOutputList());
        }
        return reads;
    }

    public GraphProto graph() {
        return graph;
    }

    public NodeProto node(int i) {
        return graph.getNode(i);
    }

    public int nodeCount() {
        return graph.getNodeCount();
    }

    /** Index of the node producing {@code value}, or -1 for inputs, initializers and unknown names. */
    public int producerOf(String value) {
        return producer.getOrDefault(value, -1);
    }

    /** Indices of nodes reading {@code value} (-1 marks a read from inside a subgraph). */
    public List<Integer> consumersOf(String value) {
        return consumers.getOrDefault(value, Collections.emptyList());
    }

    public boolean isInitializer(String value) {
        return initializers.containsKey(value);
    }

    public TensorProto initializer(String value) {
        return initializers.get(value);
    }

    public Map<String, TensorProto> initializers() {
        return Collections.unmodifiableMap(initializers);
    }

    public boolean isGraphInput(String value) {
        return inputs.containsKey(value);
    }

    public boolean isGraphOutput(String value) {
        return outputs.containsKey(value);
    }

    public Map<String, ValueInfoProto> inputs() {
        return Collections.unmodifiableMap(inputs);
    }

    public Map<String, ValueInfoProto> outputs() {
        return Collections.unmodifiableMap(outputs);
    }

    public ValueInfoProto valueInfo(String value) {
        ValueInfoProto v = valueInfo.get(value);
        if (v == null) {
            v = inputs.get(value);
        }
        if (v == null) {
            v = outputs.get(value);
        }
        return v;
    }

    /** Every name in use: values, initializers, inputs, outputs and node names. */
    public Set<String> allNames() {
        Set<String> names = new HashSet<>(initializers.keySet());
        names.addAll(inputs.keySet());
        names.addAll(outputs.keySet());
        names.addAll(valueInfo.keySet());
        for (NodeProto n : graph.getNodeList()) {
            names.addAll(n.getInputList());
            names.addAll(n.getOutputList());
            names.add(n.getName());
        }
        return names;
    }

    /** A short description of a node for error messages: {@code 'name' (MatMul)}. */
    public static String describe(NodeProto n) {
        String op = Domains.isDefault(n) ? n.getOpType()
                : n.getDomain() + ":" + n.getOpType();
        return "'" + (n.getName().isEmpty() ? String.join(",", n.getOutputList()) : n.getName()) + "' (" + op + ")";
    }
}
