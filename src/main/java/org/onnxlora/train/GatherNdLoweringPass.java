package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * Rewrites {@code GatherND(data, indices)} (batch_dims 0) as one {@code Gather} on axis 0 of {@code data} with its
 * first {@code k} dims flattened, {@code k} being the indices' last dim: the row is
 * {@code Σ_j norm(indices[..., j])·stride_j}, with {@code stride_j} the product of {@code data}'s dims
 * {@code j+1 … k-1} and {@code norm} taking a negative index {@code i} to {@code i + dim_j}, as GatherND does.
 *
 * <p>Why: ONNX Runtime's CUDA GatherND copies its slice strides to the device from a host vector that is freed when
 * the kernel returns. Under CUDA-graph capture that copy becomes a graph node reading the freed memory at every
 * replay, so the gather reads wherever the stale strides point (session 11: `train --cuda-graph` on every dynamo
 * export of the matrix stopped with an illegal memory access). Transformers' vmapped padding mask, as the dynamo
 * exporter writes it, indexes the {@code [batch, length]} mask with {@code (batch, position)} pairs this way; the
 * TorchScript exporter writes the flattened {@code Gather} itself. Gather passes everything it needs by value.
 *
 * <p>Gathers copy, and the row arithmetic is on integers, so the rewrite gives the same values to the bit. Dims
 * that are not constants are read from {@code Shape(data)}; they are one-element host values, which
 * {@link HostScalarPass} later brings onto the device. A GatherND with {@code batch_dims > 0}, or whose indices'
 * last dim or data's rank is not known, stays (refused, with the node); {@link ReplayHazards} then names it.
 */
final class GatherNdLoweringPass implements GraphPass {

    @Override
    public String name() {
        return "gathernd-lowering";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        SymbolicShapes shapes = null;
        GraphBuilder b = new GraphBuilder(new NameGen(g.allNames()));
        Map<Integer, List<NodeProto>> replacements = new HashMap<>();
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            if (!Domains.isOp(n, "GatherND")) {
                continue;
            }
            if (shapes == null) {
                shapes = SymbolicShapes.infer(graph);
            }
            String why = refusal(n, shapes);
            if (why != null) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(n), why));
                continue;
            }
            int before = b.nodes().size();
            b.scope(n.getName().isEmpty() ? "/gathernd" : n.getName() + "/lowered");
            lower(b, n, shapes);
            replacements.put(i, new ArrayList<>(b.nodes().subList(before, b.nodes().size())));
            changed.add(GraphIndex.describe(n));
        }
        if (replacements.isEmpty()) {
            return new PassResult<>(name(), graph, List.of(), refused);
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int i = 0; i < g.nodeCount(); i++) {
            List<NodeProto> r = replacements.get(i);
            if (r != null) {
                out.addAllNode(r);
            } else {
                out.addNode(g.node(i));
            }
        }
        out.addAllInitializer(b.initializers());
        return new PassResult<>(name(), out.build(), changed, refused);
    }

    private static String refusal(NodeProto n, SymbolicShapes shapes) {
        if (Attrs.getInt(n, "batch_dims", 0) != 0) {
            return "batch_dims " + Attrs.getInt(n, "batch_dims", 0) + " is not lowered";
        }
        List<Dim> indices = shapes.shape(n.getInput(1));
        if (indices == null || indices.isEmpty() || !indices.get(indices.size() - 1).isConstant()) {
            return "the indices' last dim is not known at compile time";
        }
        List<Dim> data = shapes.shape(n.getInput(0));
        long k = indices.get(indices.size() - 1).constant();
        if (data == null || k < 1 || k > data.size()) {
            return "the data's rank is not known, or the indices' last dim (" + k + ") does not fit it";
        }
        return null;
    }

    /** Adds the Gather form of {@code n} to {@code b}; its last node writes {@code n}'s output. */
    private static void lower(GraphBuilder b, NodeProto n, SymbolicShapes shapes) {
        String data = n.getInput(0);
        String indices = n.getInput(1);
        List<Dim> dims = shapes.shape(data);
        List<Dim> indexDims = shapes.shape(indices);
        int k = (int) indexDims.get(indexDims.size() - 1).constant();
        int rank = dims.size();
        String shape = null;
        String row;
        if (k == 1) {
            // Gather takes negative indices as GatherND does
            row = b.op("Gather", indices, b.int0(0), Attrs.i("axis", -1));
        } else {
            row = null;
            String stride = null; // of component j: the product of dims j+1 … k-1, built from the last component back
            for (int j = k - 1; j >= 0; j--) {
                String component = b.op("Gather", indices, b.int0(j), Attrs.i("axis", -1));
                String dim;
                if (dims.get(j).isConstant()) {
                    dim = b.int0(dims.get(j).constant());
                } else {
                    shape = shape != null ? shape : b.op("Shape", data);
                    dim = b.op("Gather", shape, b.int0(j));
                }
                String normalised = b.op("Where", List.of(b.op("Less", component, b.int0(0)),
                        b.op("Add", component, dim), component));
                String term = stride == null ? normalised : b.op("Mul", normalised, stride);
                row = row == null ? term : b.op("Add", row, term);
                stride = stride == null ? dim : b.op("Mul", stride, dim);
            }
        }
        String flat = data;
        if (k > 1) {
            List<Dim> rest = dims.subList(k, rank);
            String newShape;
            if (rest.stream().allMatch(Dim::isConstant)) {
                long[] s = new long[1 + rest.size()];
                s[0] = -1;
                for (int j = 0; j < rest.size(); j++) {
                    s[j + 1] = rest.get(j).constant();
                }
                newShape = b.ints(s);
            } else {
                shape = shape != null ? shape : b.op("Shape", data);
                newShape = b.op("Concat", List.of(b.ints(-1), b.op("Slice", List.of(shape, b.ints(k),
                        b.ints(rank)))), Attrs.i("axis", 0));
            }
            flat = b.op("Reshape", data, newShape);
        }
        b.add("", "Gather", b.names().fresh(b.scope() + "/Gather"), List.of(flat, row), List.of(n.getOutput(0)),
                Attrs.i("axis", 0));
    }
}
