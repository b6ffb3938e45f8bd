package org.onnxlora.train;

import java.util.ArrayList;
import java.util.Arrays;
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
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * For ONNX Runtime's CPU provider: every attention head split and merge, a {@code Transpose} with
 * {@code perm = [0, 2, 1, 3]}, becomes a {@code Gather} of rows that copies the same bytes to the same
 * places.
 *
 * <p>Why: the CPU Transpose kernel is one thread walking the tensor (it takes no thread pool), while
 * Gather splits its row copies over the intra-op pool. A training step of the tiny fixture runs 30 such
 * transposes (46 with the key transposes' gradients); at 16 threads they were a quarter of its kernel
 * time, as much as all its matrix products. The CUDA provider's transpose is a parallel kernel of its
 * own, so only CPU sessions get this rewrite ({@link DeviceGraphs}), unless {@code head_copies=transpose}.
 *
 * <p>How: {@code x} of shape {@code [n, a, b, c]} is read as {@code [n, a·b, c]} (a Reshape, no copy)
 * and row {@code j·b + i} is gathered to position {@code [i, j]}, which is {@code x[:, j, i, :]}. The
 * index tensor {@code [b, a]} depends only on {@code a} and {@code b}: a constant when both are, else a
 * few integer ops over dims read from the graph inputs' shapes, emitted once for all transposes of the
 * same sizes ({@link SymbolicShapes} proves which sizes are equal). A transpose whose head size
 * {@code c} is not a constant, or whose sizes cannot be read at run time, stays and is reported as
 * refused.
 */
public final class HeadCopyPass implements GraphPass {
    private static final long[] HEAD_PERM = {0, 2, 1, 3};

    @Override
    public String name() {
        return "head-copies";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        SymbolicShapes shapes = null;
        GraphBuilder b = null;
        Indices indices = null;
        List<String> changed = new ArrayList<>();
        List<PassResult.Refusal> refused = new ArrayList<>();
        List<NodeProto> body = new ArrayList<>();
        for (NodeProto n : graph.getNodeList()) {
            if (!isHeadTranspose(n)) {
                body.add(n);
                continue;
            }
            if (shapes == null) {
                shapes = SymbolicShapes.infer(graph);
                b = new GraphBuilder(new NameGen(new GraphIndex(graph).allNames()));
                indices = new Indices(b, shapes);
            }
            List<Dim> dims = shapes.shape(n.getInput(0));
            String why = dims == null || dims.size() != 4 ? "the input's rank is not known to be 4"
                    : !dims.get(3).isConstant() ? "the head size " + dims.get(3) + " is not a constant" : null;
            String index = why == null ? indices.of(dims.get(1), dims.get(2)) : null;
            if (why == null && index == null) {
                why = "the sizes " + dims.get(1) + " and " + dims.get(2) + " cannot be read at run time";
            }
            if (why != null) {
                refused.add(new PassResult.Refusal(GraphIndex.describe(n), why));
                body.add(n);
                continue;
            }
            // in place of the transpose, after whatever produced its input
            String scope = n.getName().isEmpty() ? "/head_copy" : n.getName();
            String rows = b.names().fresh(scope + "/rows");
            body.add(NodeProto.newBuilder().setName(b.names().fresh(scope + "/Reshape")).setOpType("Reshape")
                    .addInput(n.getInput(0)).addInput(b.scope(scope).ints(0, -1, dims.get(3).constant()))
                    .addOutput(rows).build());
            body.add(NodeProto.newBuilder().setName(n.getName()).setOpType("Gather").addInput(rows).addInput(index)
                    .addOutput(n.getOutput(0)).addAttribute(Attrs.i("axis", 1)).build());
            changed.add(GraphIndex.describe(n));
        }
        if (changed.isEmpty()) {
            return new PassResult<>(name(), graph, changed, refused);
        }
        // the index nodes read only graph inputs' shapes and constants: they go first
        GraphProto.Builder out = graph.toBuilder().clearNode().addAllNode(b.nodes()).addAllNode(body)
                .addAllInitializer(b.initializers());
        return new PassResult<>(name(), out.build(), changed, refused);
    }

    private static boolean isHeadTranspose(NodeProto n) {
        return Domains.isOp(n, "Transpose") && Arrays.equals(Attrs.getInts(n, "perm"), HEAD_PERM);
    }

    /**
     * The {@code [b, a]} int64 index tensors {@code idx[i][j] = j·b + i}, one per pair of sizes, and
     * the scalars they are made of, one per symbol.
     */
    private static final class Indices {
        private final GraphBuilder b;
        private final SymbolicShapes shapes;
        private final Map<List<Dim>, String> made = new HashMap<>();
        private final Map<Dim, String> scalars = new HashMap<>();
        private final Map<String, String> inputShapes = new HashMap<>();

        Indices(GraphBuilder b, SymbolicShapes shapes) {
            this.b = b;
            this.shapes = shapes;
        }

        /** The index tensor for sizes {@code a} and {@code b}, or null when one cannot be read at run time. */
        String of(Dim a, Dim bb) {
            List<Dim> key = List.of(a, bb);
            String done = made.get(key);
            if (done != null) {
                return done;
            }
            if (!readable(a) || !readable(bb)) {
                return null;
            }
            b.scope("/head_copy/index");
            String index;
            if (a.isConstant() && bb.isConstant()) {
                int na = Math.toIntExact(a.constant());
                int nb = Math.toIntExact(bb.constant());
                long[] v = new long[na * nb];
                for (int i = 0; i < nb; i++) {
                    for (int j = 0; j < na; j++) {
                        v[i * na + j] = (long) j * nb + i;
                    }
                }
                index = b.initializer(Tensors.ofLongs("/head_copy/index", new long[] {nb, na}, v));
            } else {
                String sa = a.isConstant() ? null : scalar(a);
                String sb = scalar(bb);
                // column i + row j·b, broadcast to [b, a]
                String column = bb.isConstant() ? constantRange(bb.constant(), new long[] {bb.constant(), 1})
                        : b.op("Unsqueeze", b.op("Range", List.of(b.int0(0), sb, b.int0(1))), b.ints(1));
                String row = b.op("Mul", a.isConstant() ? constantRange(a.constant(), new long[] {a.constant()})
                        : b.op("Range", List.of(b.int0(0), sa, b.int0(1))), sb);
                index = b.op("Add", column, row);
            }
            made.put(key, index);
            return index;
        }

        /** {@code 0, 1, …, n-1} as a constant of shape {@code dims}. */
        private String constantRange(long n, long[] dims) {
            long[] v = new long[Math.toIntExact(n)];
            for (int i = 0; i < v.length; i++) {
                v[i] = i;
            }
            return b.initializer(Tensors.ofLongs("/head_copy/range", dims, v));
        }

        /** Whether {@code d} is a constant or a dim of a graph input (where its value is read at run time). */
        private boolean readable(Dim d) {
            return d.isConstant() || source(d) != null;
        }

        private SymbolicShapes.DimSource source(Dim d) {
            String symbol = d.asSymbol();
            SymbolicShapes.DimSource src = symbol == null ? null : shapes.dimSource(symbol);
            return src == null || src.element() || !shapes.isGraphInput(src.value()) ? null : src;
        }

        /** A rank-0 int64 holding {@code d}, which is {@link #readable}: a constant, or read from a graph input. */
        private String scalar(Dim d) {
            if (d.isConstant()) {
                return b.int0(d.constant());
            }
            String cached = scalars.get(d);
            if (cached != null) {
                return cached;
            }
            SymbolicShapes.DimSource src = source(d);
            String shape = inputShapes.computeIfAbsent(src.value(), v -> b.op("Shape", v));
            String s = b.op("Gather", shape, b.int0(src.index()), Attrs.i("axis", 0));
            scalars.put(d, s);
            return s;
        }
    }
}
