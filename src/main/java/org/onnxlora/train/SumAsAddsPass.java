package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.PassResult;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Writes each {@code Sum} of n ≥ 2 inputs as n − 1 {@code Add}s, left to right: {@code ((x1 + x2) + x3) + …}. For
 * CPU sessions only ({@link DeviceGraphs}).
 *
 * <p>Why: ONNX Runtime's CPU Sum (1.29) walks its inputs on one thread, while Add splits its elements over the
 * intra-op pool. The backward's gradient sums are wide (a tensor read by n nodes gets an n-way Sum): on a 16-core
 * Xeon at 16 threads bart-base's 17 Sums took 100 ms a step, 29 ms of it one 13-way Sum of [32, 128, 768] at the
 * encoder's output, where an Add of that shape took 0.1 ms; from 2 to 16 threads the tiny model's Sums sped up
 * 1.09×, its Adds 1.79×. The CUDA Sum is one parallel kernel, so the stored graphs keep it.
 *
 * <p>The Adds take the inputs in Sum's own order, which is the order ONNX Runtime's Sum accumulates in, so the
 * result is the same to the bit; Add broadcasts as Sum does (multidirectionally), so any shapes Sum accepts stay
 * valid. A one-input Sum is left alone.
 */
final class SumAsAddsPass implements GraphPass {

    @Override
    public String name() {
        return "sum-as-adds";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = null;
        NameGen names = null;
        NodeEdits edits = new NodeEdits();
        List<String> changed = new ArrayList<>();
        for (int i = 0; i < graph.getNodeCount(); i++) {
            NodeProto n = graph.getNode(i);
            if (!Domains.isOp(n, "Sum") || n.getInputCount() < 2 || n.getOutputCount() != 1) {
                continue;
            }
            if (g == null) {
                g = new GraphIndex(graph);
                names = new NameGen(g.allNames());
            }
            String scope = n.getName().isEmpty() ? "/sum" : n.getName();
            GraphBuilder b = new GraphBuilder(names).scope(scope);
            int last = n.getInputCount() - 1;
            String acc = n.getInput(0);
            for (int k = 1; k < last; k++) {
                acc = b.op("Add", acc, n.getInput(k));
            }
            b.add("", "Add", names.fresh(scope + "/Add"), List.of(acc, n.getInput(last)), List.of(n.getOutput(0)));
            edits.replace(i, b.nodes());
            changed.add(GraphIndex.describe(n));
        }
        if (edits.isEmpty()) {
            return PassResult.unchanged(name(), graph);
        }
        return new PassResult<>(name(), edits.applyTo(g, graph).build(), changed, List.of());
    }
}
