package org.onnxlora.graph;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Replacements and removals of nodes, by their position in a {@link GraphIndex}, written out in one pass over the
 * node list. A replacement takes its node's place, so a pass keeps the graph topologically sorted by putting new
 * nodes where every input they read already exists.
 */
public final class NodeEdits {
    private final Map<Integer, List<NodeProto>> replacements = new HashMap<>();
    private final Set<Integer> removed = new HashSet<>();

    /** The node at {@code index} becomes {@code nodes}, in order (a later call for the same index wins). */
    public void replace(int index, List<NodeProto> nodes) {
        replacements.put(index, List.copyOf(nodes));
    }

    /** The node at {@code index} goes, unless it is also replaced. */
    public void remove(int index) {
        removed.add(index);
    }

    public boolean isEmpty() {
        return replacements.isEmpty() && removed.isEmpty();
    }

    /** {@code graph} (the graph {@code g} indexes) with the edits made; everything but the nodes is kept. */
    public GraphProto.Builder applyTo(GraphIndex g, GraphProto graph) {
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int i = 0; i < g.nodeCount(); i++) {
            List<NodeProto> r = replacements.get(i);
            if (r != null) {
                out.addAllNode(r);
            } else if (!removed.contains(i)) {
                out.addNode(g.node(i));
            }
        }
        return out;
    }
}
