package org.onnxlora.train;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.autodiff.ValueTypes;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.PassResult;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Brings every one-element host value that a device kernel reads ({@link CudaPlacement#copiesToDevice}) onto the
 * device through a kernel that takes it in host memory: {@code Reshape(Range(s, s + 1, 1), Shape(s))} is {@code s},
 * computed on the GPU from bounds that its CUDA kernel reads on the host. ONNX Runtime then adds no
 * {@code MemcpyFromHost} node, and a session of the graph can capture CUDA graphs with its dims left symbolic.
 *
 * <p>The exporters write such values in the masks: transformers' vmapped padding mask indexes the flattened mask
 * with {@code batch_index * sequence_length + position}, where the length is a shape element and the indices come
 * from a {@code Range} on the device. The rewrite computes the same number, so on any device the graph's results
 * are the same to the bit. A host value of more than one element, or of unknown size, stays as it is (refused,
 * with the node that reads it).
 */
final class HostScalarPass implements GraphPass {

    @Override
    public String name() {
        return "host-scalars";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        SymbolicShapes shapes = SymbolicShapes.infer(graph);
        ValueTypes types = new ValueTypes(graph);
        List<CudaPlacement.Copy> copies = CudaPlacement.of(graph, shapes, types).copiesToDevice();
        if (copies.isEmpty()) {
            return PassResult.unchanged(name(), graph);
        }
        GraphIndex g = new GraphIndex(graph);
        GraphBuilder b = new GraphBuilder(new NameGen(g.allNames())).scope("/host_scalar");
        // by producer: the nodes that compute each lifted value, placed right after it so the order stays topological
        Map<Integer, List<NodeProto>> after = new HashMap<>();
        Map<String, String> lifted = new LinkedHashMap<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (CudaPlacement.Copy c : copies) {
            if (!seen.add(c.value())) {
                continue;
            }
            long[] dims = shapes.constantDims(c.value());
            int dtype = types.dtype(c.value());
            if (dtype == ValueTypes.UNKNOWN) {
                refused.add(new PassResult.Refusal(c.value(), "read on the device by "
                        + GraphIndex.describe(g.node(c.node())) + ", of an element type not known here: ONNX Runtime"
                        + " copies it there, and the graph cannot be captured as a CUDA graph"));
                continue;
            }
            if (dims == null || !Arrays.stream(dims).allMatch(d -> d == 1)) {
                refused.add(new PassResult.Refusal(c.value(), "read on the device by "
                        + GraphIndex.describe(g.node(c.node())) + " and not one element (shape "
                        + shapes.shape(c.value()) + "): ONNX Runtime copies it there, and the graph cannot be"
                        + " captured as a CUDA graph"));
                continue;
            }
            int before = b.nodes().size();
            lifted.put(c.value(), lift(b, c.value(), dtype));
            after.computeIfAbsent(g.producerOf(c.value()), k -> new ArrayList<>())
                    .addAll(b.nodes().subList(before, b.nodes().size()));
        }
        if (lifted.isEmpty()) {
            return new PassResult<>(name(), graph, List.of(), refused);
        }
        Map<Integer, Map<Integer, String>> rewired = new HashMap<>();
        for (CudaPlacement.Copy c : copies) {
            String to = lifted.get(c.value());
            if (to != null) {
                rewired.computeIfAbsent(c.node(), k -> new HashMap<>()).put(c.input(), to);
            }
        }
        GraphProto.Builder out = graph.toBuilder().clearNode();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            Map<Integer, String> inputs = rewired.get(i);
            if (inputs != null) {
                NodeProto.Builder nb = n.toBuilder();
                inputs.forEach(nb::setInput);
                n = nb.build();
            }
            out.addNode(n);
            out.addAllNode(after.getOrDefault(i, List.of()));
        }
        out.addAllInitializer(b.initializers());
        return new PassResult<>(name(), out.build(), new ArrayList<>(lifted.keySet()), refused);
    }

    /**
     * {@code value} (one element) recomputed on the device, in its own shape: {@code s} is it as a scalar (Range takes
     * only those), the result goes back to {@code Shape(value)}. Integers: {@code Range(s, s + 1, 1)}. Floats:
     * {@code Range(s, s + d/2, d)} with {@code d = |s| + 1}, one element whatever the rounding of the limit. Other
     * types go through int64 and back.
     */
    private static String lift(GraphBuilder b, String value, int dtype) {
        String s = b.op("Reshape", value, b.ints());
        String r;
        if (dtype == DataType.INT64_VALUE) {
            String one = b.int0(1);
            r = b.op("Range", List.of(s, b.op("Add", s, one), one));
        } else if (dtype == DataType.FLOAT_VALUE || dtype == DataType.DOUBLE_VALUE) {
            String d = b.op("Add", b.op("Abs", s), b.scalar(1, dtype));
            String limit = b.op("Add", s, b.op("Mul", d, b.scalar(0.5, dtype)));
            r = b.op("Range", List.of(s, limit, d));
        } else {
            String asLong = b.op("Cast", s, Attrs.i("to", DataType.INT64_VALUE));
            String one = b.int0(1);
            r = b.op("Cast", b.op("Range", List.of(asLong, b.op("Add", asLong, one), one)), Attrs.i("to", dtype));
        }
        return b.op("Reshape", r, b.op("Shape", value));
    }
}
