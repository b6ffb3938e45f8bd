package org.onnxlora.autodiff;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The building blocks gradient rules share, written once so every rule emits the
 * same stock-ORT-only ops: typed constants, runtime shapes, un-broadcasting,
 * transposed matrix products, zeros, sums.
 *
 * <p>Emitted ops use the signatures of opset 13 and later (axes of ReduceSum,
 * Squeeze, Unsqueeze and sizes of Split are inputs); none of them changed
 * signature up to opset 21, so the backward fits any forward graph of opset 13+.
 */
public final class GradEmitter {
    private final GraphBuilder b;
    private final ValueTypes types;
    private final SymbolicShapes shapes;
    private final ShapeTensors shapeTensors;
    private final Map<String, String> runtimeShapes = new HashMap<>();
    private final Map<String, String> folds = new HashMap<>();
    private int seenNodes;
    private int seenInitializers;

    /**
     * @param shapes what is known of the forward's shapes; the emitter keeps it up to date with every node
     *               emitted through {@code b}, so rules can ask for the shapes of gradients too
     */
    public GradEmitter(GraphBuilder b, ValueTypes types, SymbolicShapes shapes) {
        this.b = b;
        this.types = types;
        this.shapes = shapes;
        this.shapeTensors = new ShapeTensors(b, shapes, this::shape,
                v -> types.dtype(v) == DataType.INT64_VALUE);
    }

    public GraphBuilder builder() {
        return b;
    }

    public ValueTypes types() {
        return types;
    }

    /** Shapes of forward values and of everything emitted so far. */
    public SymbolicShapes shapes() {
        List<TensorProto> inits = b.initializers();
        for (; seenInitializers < inits.size(); seenInitializers++) {
            shapes.addConstant(inits.get(seenInitializers));
        }
        List<NodeProto> nodes = b.nodes();
        for (; seenNodes < nodes.size(); seenNodes++) {
            shapes.add(nodes.get(seenNodes));
        }
        return shapes;
    }

    public String op(String opType, String... inputs) {
        return b.op(opType, List.of(inputs));
    }

    public String op(String opType, List<String> inputs, AttributeProto... attrs) {
        return b.op(opType, inputs, attrs);
    }

    /** A scalar constant with the element type of forward value {@code like}. */
    public String scalar(double value, String like) {
        int dt = types.dtype(like);
        if (Tensors.isFloatType(dt)) {
            return b.scalar(value, dt);
        }
        // Type unknown statically: let the runtime adopt it.
        return b.op("CastLike", b.scalar(value, DataType.DOUBLE_VALUE), like);
    }

    /** {@code v} cast to the element type of forward value {@code like}. */
    public String castLike(String v, String like) {
        int dt = types.dtype(like);
        if (dt != ValueTypes.UNKNOWN) {
            return b.op("Cast", v, Attrs.i("to", dt));
        }
        return b.op("CastLike", v, like);
    }

    /** Runtime shape of a value (one Shape node per value, shared by all rules): the fallback when shapes are unknown. */
    public String shape(String value) {
        return runtimeShapes.computeIfAbsent(value, v -> b.op("Shape", v));
    }

    /**
     * The shape of {@code x} as a tensor: a constant when its dims are, else built from where its symbols are
     * cheapest to read (see {@link ShapeTensors}); a {@code Shape} of {@code x} only when nothing is known.
     */
    public String shapeTensor(String x) {
        List<Dim> s = shapes().shape(x);
        String t = s == null ? null : shapeTensors.vector(new ArrayList<>(s));
        return t != null ? t : shape(x);
    }

    public String reshape(String v, String shape) {
        return b.op("Reshape", v, shape);
    }

    /** {@code g} reshaped to the shape of forward value {@code x}. */
    public String reshapeLike(String g, String x) {
        List<Dim> target = shapes().shape(x);
        if (target == null) {
            return reshape(g, shape(x));
        }
        if (target.equals(shapes().shape(g))) {
            return g;
        }
        String spec = reshapeSpec(g, target);
        return reshape(g, spec != null ? spec : shape(x));
    }

    /**
     * Reshape's target for {@code g} → {@code target}, as cheap as the shapes allow: constants where dims are
     * constant, 0 (copy) where g already has the dim at that position, one -1, and only the rest read at run time.
     */
    private String reshapeSpec(String g, List<Dim> target) {
        List<Dim> gs = shapes().shape(g);
        List<Object> spec = new ArrayList<>();
        int free = -1;
        for (int i = 0; i < target.size(); i++) {
            Dim d = target.get(i);
            if (d.isConstant()) {
                spec.add(d.constant());
            } else if (gs != null && i < gs.size() && gs.get(i).equals(d)) {
                spec.add(0L);
            } else if (free < 0) {
                free = i;
                spec.add(-1L);
            } else {
                spec.add(d);
            }
        }
        boolean zeroDim = target.stream().anyMatch(d -> d.isConstant(0));
        return zeroDim ? null : shapeTensors.vector(spec);
    }

    /** {@code g} broadcast to {@code x}'s shape (the backward of a reduction). */
    public String expandLike(String g, String x) {
        List<Dim> target = shapes().shape(x);
        List<Dim> gs = shapes().shape(g);
        if (target == null) {
            return b.op("Expand", g, shape(x));
        }
        List<Object> spec = new ArrayList<>();
        for (int i = 0; i < target.size(); i++) {
            int gi = gs == null ? -1 : i - (target.size() - gs.size());
            // Expand keeps a dim where the spec says 1, so dims g already has need not be read at run time.
            spec.add(gi >= 0 && gs.get(gi).equals(target.get(i)) ? (Object) 1L : target.get(i));
        }
        String t = shapeTensors.vector(spec);
        return b.op("Expand", g, t != null ? t : shape(x));
    }

    /** Zeros with the shape and element type of forward value {@code x}. */
    public String zerosLike(String x) {
        int dt = types.dtype(x);
        String shape = shapeTensor(x);
        if (Tensors.isFloatType(dt)) {
            return b.op("ConstantOfShape", List.of(shape),
                    Attrs.t("value", Tensors.ofDoubles("zero", new long[] {1}, new double[] {0}, dt)));
        }
        return b.op("CastLike", b.op("ConstantOfShape", shape), x);
    }

    /** Sum of gradient contributions (one Add for two, one Sum for more). */
    public String sum(List<String> terms) {
        if (terms.size() == 1) {
            return terms.get(0);
        }
        if (terms.size() == 2) {
            return b.op("Add", terms.get(0), terms.get(1));
        }
        return b.op("Sum", new ArrayList<>(terms));
    }

    /** Highest rank {@link #unbroadcast} handles with runtime shapes (ONNX models rarely pass 6). */
    static final int MAX_RANK = 8;
    private static final long[] ONES = {1, 1, 1, 1, 1, 1, 1, 1};

    /**
     * Reduces {@code g}, the gradient of a broadcast result, back to the shape of
     * the operand {@code x}: sums over the leading axes {@code x} lacks and over
     * the axes where {@code x} has size 1. As in ONNX Runtime's gradient builder,
     * the axes come from the shapes when they prove the broadcast pattern (equal
     * dims: nothing to reduce; a 1 against anything else: a constant axis); only
     * when a rank or a dim pair is undecided are they computed at run time.
     * {@code y} is kept for callers' documentation of where g came from; the
     * shapes of g itself are what is compared.
     */
    public String unbroadcast(String g, String x, String y) {
        List<Dim> gs = shapes().shape(g);
        List<Dim> xs = shapes().shape(x);
        if (gs != null && xs != null && xs.size() <= gs.size()) {
            int lead = gs.size() - xs.size();
            List<Long> kept = new ArrayList<>();
            boolean known = true;
            for (int i = 0; i < xs.size() && known; i++) {
                Dim gd = gs.get(lead + i);
                Dim xd = xs.get(i);
                if (xd.isConstant(1) && !gd.isConstant(1)) {
                    kept.add((long) (lead + i));
                } else {
                    known = gd.equals(xd);
                }
            }
            if (known) {
                return reduceAxes(g, lead, kept, xs);
            }
        }
        return unbroadcastAtRunTime(g, x);
    }

    /** Sums {@code g} over its first {@code lead} axes (dropped) and the {@code ones} axes (kept as 1). */
    private String reduceAxes(String g, int lead, List<Long> ones, List<Dim> xs) {
        if (lead == 0 && ones.isEmpty()) {
            return g;
        }
        if (ones.isEmpty()) {
            long[] axes = new long[lead];
            for (int i = 0; i < lead; i++) {
                axes[i] = i;
            }
            return b.op("ReduceSum", List.of(g, b.ints(axes)), Attrs.i("keepdims", 0));
        }
        long[] axes = new long[lead + ones.size()];
        for (int i = 0; i < lead; i++) {
            axes[i] = i;
        }
        for (int i = 0; i < ones.size(); i++) {
            axes[lead + i] = ones.get(i);
        }
        String summed = b.sumKeepDims(g, b.ints(axes));
        if (lead == 0) {
            return summed;
        }
        long[] leading = new long[lead];
        for (int i = 0; i < lead; i++) {
            leading[i] = i;
        }
        return b.op("Squeeze", summed, b.ints(leading));
    }

    private String unbroadcastAtRunTime(String g, String x) {
        String sg = shape(g);
        String sx = shape(x);
        // x's shape left-padded with ones to g's rank: the last rank(g) entries of [1]*MAX_RANK ++ shape(x).
        // Only ops whose inputs the CUDA kernels take from device memory (Concat, Equal, NonZero, Gather, Add,
        // Sub, Size), so ONNX Runtime keeps this whole shape computation on the CPU; Expand, Range or Slice would
        // pull it onto the GPU (their size inputs are CPU inputs there) and cost a device->host sync each time.
        String padSource = op("Concat", List.of(b.ints(ONES), sx), Attrs.i("axis", 0));
        String iota = reshape(op("NonZero", op("Equal", sg, sg)), b.ints(-1)); // 0 .. rank(g)-1
        String start = b.op("Sub", b.op("Add", op("Size", sx), b.int0(MAX_RANK)), op("Size", sg));
        String padded = op("Gather", List.of(padSource, b.op("Add", iota, start)), Attrs.i("axis", 0));
        String one = b.ints(1);
        String reduce = op("And", op("Equal", padded, one), op("Not", op("Equal", sg, one)));
        String axes = reshape(op("NonZero", reduce), b.ints(-1));
        String summed = b.op("ReduceSum", List.of(g, axes), Attrs.i("keepdims", 1), Attrs.i("noop_with_empty_axes", 1));
        return reshape(summed, sx);
    }

    /**
     * {@code alpha · op(a) · op(b)} over the last two axes, batch axes broadcast,
     * without ever transposing an operand in the graph (a transposed initializer is
     * constant-folded into a second copy): {@code com.microsoft:FusedMatMul},
     * which ORT's CPU and CUDA providers run for float, and the CPU one for double.
     */
    public String matmul(String a, boolean transA, String bv, boolean transB, double alpha) {
        List<AttributeProto> attrs = new ArrayList<>();
        attrs.add(Attrs.i("transA", transA ? 1 : 0));
        attrs.add(Attrs.i("transB", transB ? 1 : 0));
        attrs.add(Attrs.f("alpha", (float) alpha));
        return b.opIn(GraphBuilder.MS_DOMAIN, "FusedMatMul", List.of(a, bv), attrs.toArray(new AttributeProto[0]));
    }

    /** 2-D {@code alpha · op(a) · op(b)} with Gemm (all float types on CPU and CUDA). */
    public String gemm(String a, boolean transA, String bv, boolean transB, double alpha) {
        List<AttributeProto> attrs = new ArrayList<>();
        if (transA) {
            attrs.add(Attrs.i("transA", 1));
        }
        if (transB) {
            attrs.add(Attrs.i("transB", 1));
        }
        if (alpha != 1.0) {
            attrs.add(Attrs.f("alpha", (float) alpha));
        }
        return b.op("Gemm", List.of(a, bv), attrs.toArray(new AttributeProto[0]));
    }

    /** {@code x} as a 2-D matrix {@code [prod(leading dims), last dim]} (once per value: q/k/v share theirs). */
    public String foldLeading(String x) {
        String f = folds.get(x);
        if (f == null) {
            f = fold(x);
            folds.put(x, f);
        }
        return f;
    }

    private String fold(String x) {
        List<Dim> s = shapes().shape(x);
        if (s != null && s.size() == 2) {
            return x;
        }
        String spec = s == null || s.isEmpty() ? null : shapeTensors.vector(List.of(-1L, s.get(s.size() - 1)));
        if (spec != null) {
            return reshape(x, spec);
        }
        String last = b.op("Slice", List.of(shape(x), b.ints(-1), b.ints(Long.MAX_VALUE)));
        return reshape(x, op("Concat", List.of(b.ints(-1), last), Attrs.i("axis", 0)));
    }
}
