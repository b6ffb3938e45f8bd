package org.onnxlora.graph;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.proto.Onnx.GraphProto;

/**
 * A rewrite of one graph into an equivalent graph (same inputs, outputs and values at them),
 * the shape the training compiler's forward passes share: they compose, and each reports what
 * it changed and refused ({@link PassResult}). Passes with other inputs (a patch plan, adapter
 * terms, two Optimum files) return a {@link PassResult} of a model but are not {@code GraphPass}es.
 */
public interface GraphPass {

    /** Short name used in reports. */
    String name();

    PassResult<GraphProto> apply(GraphProto graph);

    /** Runs {@code passes} in order, each on the previous one's output; the results in the same order. */
    static List<PassResult<GraphProto>> chain(GraphProto graph, List<GraphPass> passes) {
        List<PassResult<GraphProto>> results = new ArrayList<>();
        GraphProto g = graph;
        for (GraphPass p : passes) {
            PassResult<GraphProto> r = p.apply(g);
            results.add(r);
            g = r.output();
        }
        return results;
    }
}
