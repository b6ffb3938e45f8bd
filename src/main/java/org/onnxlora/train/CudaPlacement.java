package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.autodiff.ValueTypes;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Which values of a graph ONNX Runtime's CUDA provider computes on the host, and where such a value feeds a
 * kernel on the device: the places where ORT inserts a {@code MemcpyFromHost} node, and a session with one of
 * those cannot capture CUDA graphs (ORT refuses it at creation).
 *
 * <p>The model follows ORT's partitioner (its {@code GetCpuPreferredNodes}): outputs of {@code Shape} and {@code Size}
 * live on the host; walking the graph in order, a node that reads such a value moves to the host when every input
 * is a host value, a small constant (at most 100 elements; ORT turns Constant nodes into initializers first) or a
 * graph input, and no host value among them is one its CUDA kernel takes in host memory anyway (a Reshape's shape, a
 * Range's bounds: {@link #HOST_INPUTS}). Everything else runs on the device. Half-precision inputs keep a node on the
 * device.
 */
final class CudaPlacement {
    /** ORT's threshold for an initializer it lets the host read. */
    private static final long SMALL_CONSTANT = 100;

    /**
     * Inputs that ORT's CUDA kernels declare in host memory ({@code InputMemoryType(OrtMemTypeCPUInput, i)}), for the
     * ops a BART export and its backward use: a host value there is read where it is, without a copy.
     */
    static final Map<String, Set<Integer>> HOST_INPUTS = Map.ofEntries(
            Map.entry("Reshape", Set.of(1)), Map.entry("Expand", Set.of(1)), Map.entry("ConstantOfShape", Set.of(0)),
            Map.entry("Range", Set.of(0, 1, 2)), Map.entry("Slice", Set.of(1, 2, 3, 4)), Map.entry("Tile", Set.of(1)),
            Map.entry("Unsqueeze", Set.of(1)), Map.entry("Squeeze", Set.of(1)), Map.entry("Split", Set.of(1)),
            Map.entry("ReduceSum", Set.of(1)), Map.entry("ReduceMean", Set.of(1)), Map.entry("ReduceMax", Set.of(1)),
            Map.entry("ReduceMin", Set.of(1)), Map.entry("ReduceProd", Set.of(1)), Map.entry("Pad", Set.of(1, 2, 3)),
            Map.entry("TopK", Set.of(1)), Map.entry("OneHot", Set.of(1)), Map.entry("Trilu", Set.of(1)),
            Map.entry("CumSum", Set.of(1)), Map.entry("Dropout", Set.of(1, 2)), Map.entry("Clip", Set.of(1, 2)),
            Map.entry("Resize", Set.of(1, 2, 3)));

    /** Ops ORT never folds: the random ones, and Dropout. */
    private static final Set<String> NOT_FOLDED = Set.of("RandomNormal", "RandomUniform", "RandomNormalLike",
            "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout");

    /** A host value read by a device kernel: node {@code node}'s input {@code input}. */
    record Copy(int node, int input, String value) {}

    private final GraphIndex graph;
    private final Set<String> hostValues = new HashSet<>();
    private final Set<Integer> hostNodes = new HashSet<>();
    private final Set<Integer> folded = new HashSet<>();

    private CudaPlacement(GraphIndex graph) {
        this.graph = graph;
    }

    static CudaPlacement of(GraphProto g) {
        return of(g, SymbolicShapes.infer(g), new ValueTypes(g));
    }

    /** As {@link #of(GraphProto)}, with the shapes and element types of {@code g} a caller has already inferred. */
    static CudaPlacement of(GraphProto g, SymbolicShapes shapes, ValueTypes types) {
        CudaPlacement p = new CudaPlacement(new GraphIndex(g));
        p.place(shapes, types);
        return p;
    }

    private void place(SymbolicShapes shapes, ValueTypes types) {
        Set<String> constants = new HashSet<>(graph.initializers().keySet());
        Set<String> small = smallConstants();
        for (int i = 0; i < graph.nodeCount(); i++) {
            NodeProto n = graph.node(i);
            if (folds(n, constants, shapes)) {
                folded.add(i);
                // ORT's constant folding runs before placement: what it folds is an initializer, placed nowhere
                for (String o : n.getOutputList()) {
                    constants.add(o);
                    long[] dims = shapes.constantDims(o);
                    if (dims != null && Tensors.product(dims) <= SMALL_CONSTANT) {
                        small.add(o);
                    }
                }
                continue;
            }
            if (Domains.isOp(n, "Shape") || Domains.isOp(n, "Size")) {
                hostValues.add(n.getOutput(0));
                continue;
            }
            if (n.getInputList().stream().noneMatch(hostValues::contains)) {
                continue;
            }
            if (movesToHost(n, small, types)) {
                hostNodes.add(i);
                n.getOutputList().stream().filter(o -> !o.isEmpty()).forEach(hostValues::add);
            }
        }
    }

    /**
     * Whether ORT's constant folding replaces {@code n} by its value: a Constant; a deterministic node whose
     * inputs are all constant; a Shape or Size of a value whose dims are all known.
     */
    private static boolean folds(NodeProto n, Set<String> constants, SymbolicShapes shapes) {
        if (isConstant(n)) {
            return true;
        }
        if (!Domains.isDefault(n.getDomain()) || NOT_FOLDED.contains(n.getOpType())) {
            return false;
        }
        if (Domains.isOp(n, "Shape") || Domains.isOp(n, "Size")) {
            return shapes.constantDims(n.getInput(0)) != null;
        }
        return n.getInputCount() > 0 && n.getInputList().stream().allMatch(in -> in.isEmpty() || constants.contains(in));
    }

    private boolean movesToHost(NodeProto n, Set<String> small, ValueTypes types) {
        Set<Integer> hostIn = hostInputs(n);
        for (int k = 0; k < n.getInputCount(); k++) {
            String in = n.getInput(k);
            if (in.isEmpty()) {
                continue;
            }
            int dt = types.dtype(in);
            if (dt == DataType.FLOAT16_VALUE || dt == DataType.BFLOAT16_VALUE) {
                return false;
            }
            if (small.contains(in) || graph.isGraphInput(in)) {
                continue;
            }
            if (!hostValues.contains(in) || hostIn.contains(k)) {
                return false;
            }
        }
        return true;
    }

    private static Set<Integer> hostInputs(NodeProto n) {
        return Domains.isDefault(n.getDomain()) ? HOST_INPUTS.getOrDefault(n.getOpType(), Set.of()) : Set.of();
    }

    private static boolean isConstant(NodeProto n) {
        return Domains.isOp(n, "Constant");
    }

    private Set<String> smallConstants() {
        Set<String> small = new HashSet<>();
        graph.initializers().forEach((name, t) -> {
            if (Tensors.elementCount(t) <= SMALL_CONSTANT) {
                small.add(name);
            }
        });
        for (int i = 0; i < graph.nodeCount(); i++) {
            NodeProto n = graph.node(i);
            if (isConstant(n) && constantElements(n) <= SMALL_CONSTANT) {
                small.add(n.getOutput(0));
            }
        }
        return small;
    }

    private static long constantElements(NodeProto n) {
        for (AttributeProto a : n.getAttributeList()) {
            switch (a.getName()) {
                case "value":
                    return Tensors.elementCount(a.getT());
                case "value_ints":
                    return a.getIntsCount();
                case "value_floats":
                    return a.getFloatsCount();
                case "value_int", "value_float":
                    return 1;
                default:
                    // sparse and string constants: never shape arithmetic
                    return Long.MAX_VALUE;
            }
        }
        return Long.MAX_VALUE;
    }

    /** Whether node {@code i} runs as a CUDA kernel: not moved to the host, not folded away, not a Shape or Size. */
    boolean onDevice(int i) {
        NodeProto n = graph.node(i);
        return !hostNodes.contains(i) && !folded.contains(i) && !Domains.isOp(n, "Shape") && !Domains.isOp(n, "Size");
    }

    /** Every host value a device kernel reads from device memory: a {@code MemcpyFromHost} each, in node order. */
    List<Copy> copiesToDevice() {
        List<Copy> copies = new ArrayList<>();
        for (int i = 0; i < graph.nodeCount(); i++) {
            NodeProto n = graph.node(i);
            if (!onDevice(i)) {
                continue;
            }
            Set<Integer> hostIn = hostInputs(n);
            for (int k = 0; k < n.getInputCount(); k++) {
                String in = n.getInput(k);
                if (hostValues.contains(in) && !hostIn.contains(k)) {
                    copies.add(new Copy(i, k, in));
                }
            }
        }
        return copies;
    }
}
