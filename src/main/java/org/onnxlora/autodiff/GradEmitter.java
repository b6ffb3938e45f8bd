package org.onnxlora.autodiff;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
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
    private final Map<String, String> shapes = new HashMap<>();

    public GradEmitter(GraphBuilder b, ValueTypes types) {
        this.b = b;
        this.types = types;
    }

    public GraphBuilder builder() {
        return b;
    }

    public ValueTypes types() {
        return types;
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

    /** Runtime shape of a forward value (one Shape node per value, shared by all rules). */
    public String shape(String value) {
        return shapes.computeIfAbsent(value, v -> b.op("Shape", v));
    }

    public String reshape(String v, String shape) {
        return b.op("Reshape", v, shape);
    }

    /** {@code g} reshaped to the runtime shape of forward value {@code x}. */
    public String reshapeLike(String g, String x) {
        return reshape(g, shape(x));
    }

    /** Zeros with the shape and element type of forward value {@code x}. */
    public String zerosLike(String x) {
        int dt = types.dtype(x);
        if (Tensors.isFloatType(dt)) {
            return b.op("ConstantOfShape", List.of(shape(x)),
                    Attrs.t("value", Tensors.ofDoubles("zero", new long[] {1}, new double[] {0}, dt)));
        }
        return b.op("CastLike", b.op("ConstantOfShape", shape(x)), x);
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
     * Reduces {@code g}, the gradient of a broadcast result {@code y}, back to the
     * shape of the operand {@code x}: sums over the leading axes {@code x} lacks and
     * over the axes where {@code x} has size 1. Ranks are generally unknown when
     * compiling, so the axes are computed at run time unless shapes prove it unneeded.
     * {@code y} names a forward value known to have {@code g}'s shape, or is null.
     */
    public String unbroadcast(String g, String x, String y) {
        if (y != null && types.provablySameShape(x, y)) {
            return g;
        }
        long[] xd = types.dims(x);
        if (xd != null && allAbove1(xd)) {
            // Broadcasting x (no size-1 dims) can only have prepended axes: fold them into one and sum it.
            long[] to = new long[xd.length + 1];
            to[0] = -1;
            System.arraycopy(xd, 0, to, 1, xd.length);
            String folded = reshape(g, b.ints(to));
            return b.op("ReduceSum", List.of(folded, b.ints(0)), Attrs.i("keepdims", 0));
        }
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

    private static boolean allAbove1(long[] dims) {
        for (long d : dims) {
            if (d <= 1) {
                return false;
            }
        }
        return true;
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

    /** {@code x} as a 2-D matrix {@code [prod(leading dims), last dim]}; {@code lastDim} if known, else -1. */
    public String foldLeading(String x, long lastDim) {
        if (lastDim >= 0) {
            return reshape(x, b.ints(-1, lastDim));
        }
        String last = b.op("Slice", List.of(shape(x), b.ints(-1), b.ints(Long.MAX_VALUE)));
        return reshape(x, op("Concat", List.of(b.ints(-1), last), Attrs.i("axis", 0)));
    }
}
