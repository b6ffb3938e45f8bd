package org.onnxlora.graph.shape;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The per-op shape rules of {@link SymbolicShapes}: output shapes from input
 * shapes, and output elements from input elements for the small integer tensors
 * of shape arithmetic. An op without a rule, or an input whose shape is not
 * known, leaves the outputs unknown.
 */
final class OpShapes {
    private final NodeProto n;
    private final SymbolicShapes s;

    private OpShapes(NodeProto n, SymbolicShapes s) {
        this.n = n;
        this.s = s;
    }

    static void apply(NodeProto n, SymbolicShapes s) {
        new OpShapes(n, s).apply();
    }

    private String in(int i) {
        return i < n.getInputCount() ? n.getInput(i) : "";
    }

    private String out(int k) {
        return k < n.getOutputCount() ? n.getOutput(k) : "";
    }

    private List<Dim> shape(int i) {
        String v = in(i);
        return v.isEmpty() ? null : s.shape(v);
    }

    private List<Dim> elements(int i) {
        String v = in(i);
        return v.isEmpty() ? null : s.elements(v);
    }

    /** The input's elements if every one is a constant. */
    private long[] constants(int i) {
        List<Dim> e = elements(i);
        if (e == null) {
            return null;
        }
        long[] c = new long[e.size()];
        for (int k = 0; k < c.length; k++) {
            if (e.get(k) == null || !e.get(k).isConstant()) {
                return null;
            }
            c[k] = e.get(k).constant();
        }
        return c;
    }

    private long[] intsAttrOrInput(String attr, int input) {
        long[] a = Attrs.getInts(n, attr);
        if (a != null) {
            return a;
        }
        return in(input).isEmpty() ? null : constants(input);
    }

    private void set(int k, List<Dim> dims) {
        s.setShape(out(k), dims);
    }

    private void setElements(int k, List<Dim> values) {
        s.setElements(out(k), values);
    }

    private Dim fresh(int k, int axis) {
        return s.freshDim(out(k), axis);
    }

    private void apply() {
        String op = n.getOpType();
        boolean ms = n.getDomain().equals("com.microsoft");
        if (ms) {
            microsoft(op);
            return;
        }
        if (!Domains.isDefault(n)) {
            return;
        }
        switch (op) {
            case "Identity", "Neg", "Exp", "Log", "Sqrt", "Reciprocal", "Erf", "Tanh", "Relu", "Sigmoid", "Abs",
                    "Floor", "Ceil", "Round", "Sign", "Not", "IsNaN", "IsInf", "Softmax", "LogSoftmax", "Trilu",
                    "CumSum", "Sin", "Cos", "Elu", "LeakyRelu", "Selu", "Softplus", "HardSigmoid", "Clip", "BitwiseNot",
                    "Gelu", "Mish", "Celu" -> sameShape();
            case "Cast", "CastLike" -> cast();
            case "Dropout" -> {
                set(0, shape(0));
                set(1, shape(0));
            }
            case "LayerNormalization" -> layerNorm();
            case "ScatterElements", "ScatterND" -> set(0, shape(0));
            case "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
                    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitShift", "BitwiseAnd",
                    "BitwiseOr", "BitwiseXor", "PRelu" -> broadcast();
            case "Shape" -> shapeOp();
            case "Size" -> size();
            case "Reshape" -> reshape();
            case "Flatten" -> flatten();
            case "Squeeze" -> squeeze();
            case "Unsqueeze" -> unsqueeze();
            case "Transpose" -> transpose();
            case "Expand" -> expand();
            case "Concat" -> concat();
            case "Split" -> split();
            case "Slice" -> slice();
            case "Gather" -> gather();
            case "GatherElements" -> set(0, shape(1));
            case "GatherND" -> gatherNd();
            case "ConstantOfShape" -> constantOfShape();
            case "Constant" -> constant();
            case "Range" -> range();
            case "NonZero" -> nonZero();
            case "MatMul" -> matmul(false, false);
            case "Gemm" -> gemm();
            case "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare" -> reduce();
            case "ArgMax", "ArgMin" -> argReduce();
            case "OneHot" -> oneHot();
            case "Tile" -> tile();
            default -> { }
        }
    }

    private void microsoft(String op) {
        switch (op) {
            case "Gelu", "FastGelu", "BiasGelu", "QuickGelu" -> sameShape();
            case "FusedMatMul" -> {
                if (Attrs.getInt(n, "transBatchA", 0) == 0 && Attrs.getInt(n, "transBatchB", 0) == 0) {
                    matmul(Attrs.getInt(n, "transA", 0) != 0, Attrs.getInt(n, "transB", 0) != 0);
                }
            }
            default -> { }
        }
    }

    private void sameShape() {
        set(0, shape(0));
        if (n.getOpType().equals("Identity") || n.getOpType().equals("Neg") || n.getOpType().equals("Abs")
                || n.getOpType().equals("Not")) {
            List<Dim> e = elements(0);
            if (e != null) {
                List<Dim> r = new ArrayList<>();
                for (Dim d : e) {
                    r.add(d == null ? null : switch (n.getOpType()) {
                        case "Neg" -> d.negate();
                        case "Abs" -> d.isNonNegative() ? d : d.isConstant() ? Dim.of(Math.abs(d.constant())) : null;
                        case "Not" -> d.isConstant() ? Dim.of(d.constant() == 0 ? 1 : 0) : null;
                        default -> d;
                    });
                }
                setElements(0, r);
            }
        }
    }

    private void cast() {
        set(0, shape(0));
        int to = n.getOpType().equals("Cast") ? (int) Attrs.getInt(n, "to", 0) : -1;
        List<Dim> e = elements(0);
        if (e == null) {
            return;
        }
        if (to == DataType.INT64_VALUE || to == DataType.INT32_VALUE) {
            setElements(0, e);
        } else if (to == DataType.BOOL_VALUE) {
            List<Dim> r = new ArrayList<>();
            for (Dim d : e) {
                r.add(d != null && d.isConstant() ? Dim.of(d.constant() != 0 ? 1 : 0) : null);
            }
            setElements(0, r);
        }
    }

    private void layerNorm() {
        List<Dim> x = shape(0);
        set(0, x);
        if (x == null) {
            return;
        }
        int axis = normalize(Attrs.getInt(n, "axis", -1), x.size());
        if (axis < 0) {
            return;
        }
        List<Dim> stat = new ArrayList<>(x.subList(0, axis));
        for (int i = axis; i < x.size(); i++) {
            stat.add(Dim.of(1));
        }
        set(1, stat);
        set(2, stat);
    }

    private static int normalize(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        return a < 0 || a >= rank ? -1 : (int) a;
    }

    // ---- broadcasting ----

    private void broadcast() {
        List<List<Dim>> ins = new ArrayList<>();
        for (int i = 0; i < n.getInputCount(); i++) {
            List<Dim> sh = shape(i);
            if (sh == null) {
                return;
            }
            ins.add(sh);
        }
        List<Dim> outShape = broadcastShapes(ins, 0);
        if (outShape == null) {
            return;
        }
        set(0, outShape);
        elementwiseValues(ins, outShape);
    }

    /** numpy broadcasting; an axis where different symbols meet gets a fresh dim (it is one of them, or 1). */
    private List<Dim> broadcastShapes(List<List<Dim>> ins, int output) {
        int rank = 0;
        for (List<Dim> sh : ins) {
            rank = Math.max(rank, sh.size());
        }
        List<Dim> out = new ArrayList<>();
        for (int a = 0; a < rank; a++) {
            List<Dim> cands = new ArrayList<>();
            for (List<Dim> sh : ins) {
                int i = a - (rank - sh.size());
                if (i >= 0 && !sh.get(i).isConstant(1) && !cands.contains(sh.get(i))) {
                    cands.add(sh.get(i));
                }
            }
            if (cands.isEmpty()) {
                out.add(Dim.of(1));
            } else if (cands.size() == 1) {
                out.add(cands.get(0));
            } else {
                List<Dim> consts = cands.stream().filter(Dim::isConstant).toList();
                if (consts.size() == 1) {
                    out.add(consts.get(0)); // the symbols must be 1 there, or the same size
                } else if (consts.isEmpty()) {
                    out.add(fresh(output, a));
                } else {
                    return null; // incompatible constants: the model cannot run
                }
            }
        }
        return out;
    }

    private void elementwiseValues(List<List<Dim>> ins, List<Dim> outShape) {
        long[] outDims = constDims(outShape);
        if (outDims == null || Tensors.product(outDims) > SymbolicShapes.MAX_TRACKED) {
            return;
        }
        List<List<Dim>> vals = new ArrayList<>();
        List<long[]> dims = new ArrayList<>();
        for (int i = 0; i < ins.size(); i++) {
            List<Dim> e = elements(i);
            long[] d = constDims(ins.get(i));
            if (e == null || d == null) {
                return;
            }
            vals.add(e);
            dims.add(d);
        }
        int total = (int) Tensors.product(outDims);
        List<Dim> r = new ArrayList<>(total);
        for (int flat = 0; flat < total; flat++) {
            List<Dim> args = new ArrayList<>();
            for (int i = 0; i < vals.size(); i++) {
                args.add(vals.get(i).get(sourceIndex(flat, outDims, dims.get(i))));
            }
            r.add(combine(args));
        }
        setElements(0, r);
    }

    private static int sourceIndex(int flat, long[] outDims, long[] inDims) {
        int idx = 0;
        int stride = 1;
        int rem = flat;
        long[] coord = new long[outDims.length];
        for (int a = outDims.length - 1; a >= 0; a--) {
            coord[a] = rem % outDims[a];
            rem /= (int) outDims[a];
        }
        for (int a = inDims.length - 1; a >= 0; a--) {
            int oa = a + outDims.length - inDims.length;
            long c = inDims[a] == 1 ? 0 : coord[oa];
            idx += (int) c * stride;
            stride *= (int) inDims[a];
        }
        return idx;
    }

    private Dim combine(List<Dim> a) {
        if (n.getOpType().equals("Where")) {
            Dim c = a.get(0);
            return c == null || !c.isConstant() ? null : c.constant() != 0 ? a.get(1) : a.get(2);
        }
        if (a.contains(null)) {
            return null;
        }
        if (n.getOpType().equals("Sum")) {
            Dim r = Dim.of(0);
            for (Dim d : a) {
                r = r.plus(d);
            }
            return r;
        }
        if (a.size() != 2) {
            return null;
        }
        Dim x = a.get(0);
        Dim y = a.get(1);
        boolean cc = x.isConstant() && y.isConstant();
        return switch (n.getOpType()) {
            case "Add" -> x.plus(y);
            case "Sub" -> x.minus(y);
            case "Mul" -> x.times(y);
            case "Div" -> x.exactlyDividedBy(y).orElse(cc && y.constant() != 0 ? Dim.of(x.constant() / y.constant()) : null);
            case "Mod" -> cc && y.constant() != 0 ? Dim.of(Math.floorMod(x.constant(), y.constant())) : null;
            case "Max" -> x.equals(y) ? x : cc ? Dim.of(Math.max(x.constant(), y.constant())) : null;
            case "Min" -> x.equals(y) ? x : cc ? Dim.of(Math.min(x.constant(), y.constant())) : null;
            case "Equal" -> equal(x, y);
            case "Less" -> cc ? bool(x.constant() < y.constant()) : null;
            case "Greater" -> cc ? bool(x.constant() > y.constant()) : null;
            case "LessOrEqual" -> cc ? bool(x.constant() <= y.constant()) : null;
            case "GreaterOrEqual" -> cc ? bool(x.constant() >= y.constant()) : null;
            case "And" -> x.isConstant(0) || y.isConstant(0) ? bool(false) : cc ? bool(true) : null;
            case "Or" -> x.isConstant(1) || y.isConstant(1) ? bool(true) : cc ? bool(false) : null;
            case "Xor" -> cc ? bool(x.constant() != y.constant()) : null;
            default -> null;
        };
    }

    /** 1 or 0 when provable: equal polynomials, or a difference that is a positive constant plus non-negative terms. */
    private static Dim equal(Dim x, Dim y) {
        Dim d = x.minus(y);
        if (d.isConstant()) {
            return bool(d.constant() == 0);
        }
        for (Dim e : new Dim[] {d, d.negate()}) {
            Long c = e.terms().get(List.<String>of());
            if (e.isNonNegative() && c != null && c > 0) {
                return bool(false);
            }
        }
        return null;
    }

    private static Dim bool(boolean b) {
        return Dim.of(b ? 1 : 0);
    }

    private static long[] constDims(List<Dim> shape) {
        long[] d = new long[shape.size()];
        for (int i = 0; i < d.length; i++) {
            if (!shape.get(i).isConstant()) {
                return null;
            }
            d[i] = shape.get(i).constant();
        }
        return d;
    }

    private static Dim product(List<Dim> dims) {
        Dim p = Dim.of(1);
        for (Dim d : dims) {
            p = p.times(d);
        }
        return p;
    }

    // ---- shape arithmetic ----

    private void shapeOp() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        int r = x.size();
        long start = Attrs.getInt(n, "start", 0);
        long end = Attrs.getInt(n, "end", r);
        int a = (int) Math.max(0, Math.min(r, start < 0 ? start + r : start));
        int b = (int) Math.max(0, Math.min(r, end < 0 ? end + r : end));
        List<Dim> e = b > a ? x.subList(a, b) : List.of();
        set(0, List.of(Dim.of(e.size())));
        setElements(0, e);
    }

    private void size() {
        set(0, List.of());
        List<Dim> x = shape(0);
        if (x != null) {
            setElements(0, List.of(product(x)));
        }
    }

    private void reshape() {
        List<Dim> x = shape(0);
        List<Dim> target = elements(1);
        List<Dim> targetShape = shape(1);
        boolean allowZero = Attrs.getInt(n, "allowzero", 0) != 0;
        if (target == null) {
            if (targetShape != null && targetShape.size() == 1 && targetShape.get(0).isConstant()) {
                int rank = (int) targetShape.get(0).constant();
                List<Dim> out = new ArrayList<>();
                for (int i = 0; i < rank; i++) {
                    out.add(fresh(0, i));
                }
                set(0, out);
            }
            return;
        }
        List<Dim> out = new ArrayList<>();
        int minus = -1;
        for (int i = 0; i < target.size(); i++) {
            Dim t = target.get(i);
            if (t != null && t.isConstant(0) && !allowZero) {
                t = x != null && i < x.size() ? x.get(i) : null;
            }
            if (t != null && t.isConstant(-1)) {
                minus = i;
                out.add(null);
            } else {
                out.add(t);
            }
        }
        if (minus >= 0) {
            Dim rest = Dim.of(1);
            boolean known = x != null;
            for (int i = 0; i < out.size() && known; i++) {
                if (i != minus) {
                    known = out.get(i) != null;
                    rest = known ? rest.times(out.get(i)) : rest;
                }
            }
            if (known) {
                out.set(minus, product(x).exactlyDividedBy(rest).orElse(null));
            }
        }
        for (int i = 0; i < out.size(); i++) {
            if (out.get(i) == null) {
                out.set(i, fresh(0, i));
            }
        }
        set(0, out);
        passElements(out);
    }

    /** Ops that only re-view their input keep its elements. */
    private void passElements(List<Dim> outShape) {
        List<Dim> e = elements(0);
        long[] d = constDims(outShape);
        if (e != null && d != null && Tensors.product(d) == e.size()) {
            setElements(0, e);
        }
    }

    private void flatten() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        long ax = Attrs.getInt(n, "axis", 1);
        int a = (int) (ax < 0 ? ax + x.size() : ax);
        if (a < 0 || a > x.size()) {
            return;
        }
        List<Dim> out = List.of(product(x.subList(0, a)), product(x.subList(a, x.size())));
        set(0, out);
        passElements(out);
    }

    private void squeeze() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        long[] axes = intsAttrOrInput("axes", 1);
        boolean given = Attrs.getInts(n, "axes") != null || !in(1).isEmpty();
        List<Dim> out = new ArrayList<>();
        if (!given) {
            for (Dim d : x) {
                if (!d.isConstant()) {
                    return; // a symbol might be 1
                }
                if (!d.isConstant(1)) {
                    out.add(d);
                }
            }
        } else {
            if (axes == null) {
                return;
            }
            boolean[] drop = new boolean[x.size()];
            for (long a : axes) {
                int i = normalize(a, x.size());
                if (i < 0) {
                    return;
                }
                drop[i] = true;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!drop[i]) {
                    out.add(x.get(i));
                }
            }
        }
        set(0, out);
        passElements(out);
    }

    private void unsqueeze() {
        List<Dim> x = shape(0);
        long[] axes = intsAttrOrInput("axes", 1);
        if (x == null || axes == null) {
            return;
        }
        int rank = x.size() + axes.length;
        boolean[] ones = new boolean[rank];
        for (long a : axes) {
            int i = normalize(a, rank);
            if (i < 0) {
                return;
            }
            ones[i] = true;
        }
        List<Dim> out = new ArrayList<>();
        int k = 0;
        for (int i = 0; i < rank; i++) {
            out.add(ones[i] ? Dim.of(1) : x.get(k++));
        }
        set(0, out);
        passElements(out);
    }

    private void transpose() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        long[] perm = Attrs.getInts(n, "perm");
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < x.size(); i++) {
            out.add(x.get(perm == null ? x.size() - 1 - i : (int) perm[i]));
        }
        set(0, out);
        if (x.size() <= 1) {
            passElements(out);
        }
    }

    private void expand() {
        List<Dim> x = shape(0);
        List<Dim> t = elements(1);
        if (x == null || t == null) {
            return;
        }
        // An unknown target entry: the output dim is that entry broadcast with x's dim, which only x can tell if > 1.
        int rank = Math.max(x.size(), t.size());
        List<Dim> out = new ArrayList<>();
        for (int a = 0; a < rank; a++) {
            int xi = a - (rank - x.size());
            int ti = a - (rank - t.size());
            Dim xd = xi >= 0 ? x.get(xi) : Dim.of(1);
            Dim td = ti >= 0 ? t.get(ti) : Dim.of(1);
            if (td == null) {
                out.add(xd.isConstant() && !xd.isConstant(1) ? xd : fresh(0, a));
                continue;
            }
            List<Dim> one = broadcastShapes(List.of(List.of(xd), List.of(td)), 0);
            if (one == null) {
                return;
            }
            out.add(one.get(0));
        }
        set(0, out);
        elementwiseValues(List.of(x), out);
    }

    private void concat() {
        List<List<Dim>> ins = new ArrayList<>();
        for (int i = 0; i < n.getInputCount(); i++) {
            List<Dim> sh = shape(i);
            if (sh == null) {
                return;
            }
            ins.add(sh);
        }
        if (ins.isEmpty()) {
            return;
        }
        int rank = ins.get(0).size();
        int axis = normalize(Attrs.getInt(n, "axis", 0), rank);
        if (axis < 0) {
            return;
        }
        List<Dim> out = new ArrayList<>();
        for (int a = 0; a < rank; a++) {
            if (a == axis) {
                Dim sum = Dim.of(0);
                for (List<Dim> sh : ins) {
                    sum = sum.plus(sh.get(a));
                }
                out.add(sum);
            } else {
                Dim pick = ins.get(0).get(a);
                for (List<Dim> sh : ins) {
                    if (sh.get(a).isConstant()) {
                        pick = sh.get(a); // all inputs agree there; a constant is the most informative name
                    }
                }
                out.add(pick);
            }
        }
        set(0, out);
        if (rank == 1) {
            List<Dim> all = new ArrayList<>();
            for (int i = 0; i < n.getInputCount(); i++) {
                List<Dim> e = elements(i);
                if (e == null) {
                    long[] d = constDims(ins.get(i));
                    if (d == null) {
                        return;
                    }
                    e = Collections.nCopies((int) d[0], null);
                }
                all.addAll(e);
            }
            setElements(0, all);
        }
    }

    private void split() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        int axis = normalize(Attrs.getInt(n, "axis", 0), x.size());
        if (axis < 0) {
            return;
        }
        long[] sizes = intsAttrOrInput("split", 1);
        int parts = n.getOutputCount();
        List<Dim> dims = new ArrayList<>();
        if (sizes != null) {
            for (long v : sizes) {
                dims.add(Dim.of(v));
            }
        } else if (in(1).isEmpty() && Attrs.getInts(n, "split") == null) {
            Dim d = x.get(axis);
            if (d.isConstant()) {
                long per = (d.constant() + parts - 1) / parts;
                for (int k = 0; k < parts; k++) {
                    dims.add(Dim.of(Math.max(0, Math.min(per, d.constant() - per * k))));
                }
            } else {
                Dim per = d.exactlyDividedBy(Dim.of(parts)).orElse(null);
                for (int k = 0; k < parts; k++) {
                    dims.add(per);
                }
            }
        }
        for (int k = 0; k < parts; k++) {
            List<Dim> o = new ArrayList<>(x);
            o.set(axis, k < dims.size() && dims.get(k) != null ? dims.get(k) : fresh(k, axis));
            set(k, o);
        }
    }

    private void slice() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        long[] starts;
        long[] ends;
        long[] axes;
        long[] steps;
        if (Attrs.getInts(n, "starts") != null) {
            starts = Attrs.getInts(n, "starts");
            ends = Attrs.getInts(n, "ends");
            axes = Attrs.getInts(n, "axes");
            steps = null;
        } else {
            starts = constants(1);
            ends = constants(2);
            axes = in(3).isEmpty() ? null : constants(3);
            steps = in(4).isEmpty() ? null : constants(4);
            if (!in(3).isEmpty() && axes == null || !in(4).isEmpty() && steps == null) {
                starts = null;
            }
        }
        List<Dim> out = new ArrayList<>(x);
        if (starts == null || ends == null || starts.length != ends.length) {
            // Which axes change is unknown unless axes are given; without them every axis may.
            for (int a = 0; a < out.size(); a++) {
                out.set(a, fresh(0, a));
            }
            set(0, out);
            return;
        }
        int[][] perAxis = new int[x.size()][];
        for (int k = 0; k < starts.length; k++) {
            int a = normalize(axes == null ? k : axes[k], x.size());
            if (a < 0) {
                return;
            }
            long step = steps == null ? 1 : steps[k];
            Dim d = x.get(a);
            if (d.isConstant()) {
                long[] r = sliceRange(starts[k], ends[k], step, d.constant());
                out.set(a, Dim.of(r[2]));
                perAxis[a] = new int[] {(int) r[0], (int) step, (int) r[2]};
            } else if (starts[k] == 0 && step == 1 && ends[k] >= Integer.MAX_VALUE) {
                out.set(a, d);
            } else {
                out.set(a, fresh(0, a));
            }
        }
        set(0, out);
        List<Dim> e = elements(0);
        if (e != null && x.size() == 1) {
            int[] r = perAxis[0];
            if (r == null) {
                if (out.get(0).equals(x.get(0))) {
                    setElements(0, e);
                }
                return;
            }
            List<Dim> v = new ArrayList<>();
            for (int i = 0; i < r[2]; i++) {
                v.add(e.get(r[0] + i * r[1]));
            }
            setElements(0, v);
        }
    }

    /** ONNX Slice on a known length: {first index, step, count}. */
    private static long[] sliceRange(long start, long end, long step, long dim) {
        long s = start < 0 ? start + dim : start;
        long e = end < 0 ? end + dim : end;
        if (step > 0) {
            s = Math.max(0, Math.min(dim, s));
            e = Math.max(0, Math.min(dim, e));
            long count = e > s ? (e - s + step - 1) / step : 0;
            return new long[] {s, step, count};
        }
        s = Math.max(-1, Math.min(dim - 1, s));
        e = Math.max(-1, Math.min(dim - 1, e));
        long count = s > e ? (s - e + (-step) - 1) / (-step) : 0;
        return new long[] {s, step, count};
    }

    private void gather() {
        List<Dim> x = shape(0);
        List<Dim> idx = shape(1);
        if (x == null || idx == null) {
            return;
        }
        int axis = normalize(Attrs.getInt(n, "axis", 0), x.size());
        if (axis < 0) {
            return;
        }
        List<Dim> out = new ArrayList<>(x.subList(0, axis));
        out.addAll(idx);
        out.addAll(x.subList(axis + 1, x.size()));
        set(0, out);
        List<Dim> e = elements(0);
        long[] at = constants(1);
        if (e != null && x.size() == 1 && at != null) {
            List<Dim> v = new ArrayList<>();
            for (long i : at) {
                long j = i < 0 ? i + e.size() : i;
                if (j < 0 || j >= e.size()) {
                    return;
                }
                v.add(e.get((int) j));
            }
            setElements(0, v);
        }
    }

    private void gatherNd() {
        List<Dim> x = shape(0);
        List<Dim> idx = shape(1);
        if (x == null || idx == null || idx.isEmpty() || !idx.get(idx.size() - 1).isConstant()) {
            return;
        }
        int b = (int) Attrs.getInt(n, "batch_dims", 0);
        int last = (int) idx.get(idx.size() - 1).constant();
        if (b + last > x.size()) {
            return;
        }
        List<Dim> out = new ArrayList<>(idx.subList(0, idx.size() - 1));
        out.addAll(x.subList(b + last, x.size()));
        set(0, out);
    }

    private void constantOfShape() {
        List<Dim> target = elements(0);
        if (target == null) {
            List<Dim> ts = shape(0);
            if (ts != null && ts.size() == 1 && ts.get(0).isConstant()) {
                List<Dim> out = new ArrayList<>();
                for (int i = 0; i < ts.get(0).constant(); i++) {
                    out.add(fresh(0, i));
                }
                set(0, out);
            }
            return;
        }
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < target.size(); i++) {
            out.add(target.get(i) != null ? target.get(i) : fresh(0, i));
        }
        set(0, out);
        TensorProto v = Attrs.find(n, "value").filter(AttributeProto::hasT).map(AttributeProto::getT).orElse(null);
        List<Dim> fill = v == null ? null : SymbolicShapes.constantElements(v);
        long[] d = constDims(out);
        if (fill != null && fill.size() == 1 && d != null && Tensors.product(d) <= SymbolicShapes.MAX_TRACKED) {
            setElements(0, Collections.nCopies((int) Tensors.product(d), fill.get(0)));
        } else if (v != null && v.getDataType() == DataType.BOOL_VALUE && d != null
                && Tensors.product(d) <= SymbolicShapes.MAX_TRACKED) {
            boolean on = v.getRawData().size() > 0 ? v.getRawData().byteAt(0) != 0 : v.getInt32DataCount() > 0
                    && v.getInt32Data(0) != 0;
            setElements(0, Collections.nCopies((int) Tensors.product(d), bool(on)));
        }
    }

    private void constant() {
        TensorProto t = Attrs.find(n, "value").filter(AttributeProto::hasT).map(AttributeProto::getT).orElse(null);
        if (t != null) {
            List<Dim> dims = new ArrayList<>();
            t.getDimsList().forEach(d -> dims.add(Dim.of(d)));
            set(0, dims);
            setElements(0, SymbolicShapes.constantElements(t));
            return;
        }
        AttributeProto a = Attrs.find(n, "value_int").orElse(null);
        if (a != null) {
            set(0, List.of());
            setElements(0, List.of(Dim.of(a.getI())));
            return;
        }
        long[] ints = Attrs.getInts(n, "value_ints");
        if (ints != null) {
            set(0, List.of(Dim.of(ints.length)));
            List<Dim> e = new ArrayList<>();
            for (long v : ints) {
                e.add(Dim.of(v));
            }
            setElements(0, e);
        } else if (Attrs.find(n, "value_float").isPresent()) {
            set(0, List.of());
        } else if (Attrs.getInts(n, "value_floats") != null || Attrs.find(n, "value_floats").isPresent()) {
            set(0, List.of(Dim.of(Attrs.find(n, "value_floats").get().getFloatsCount())));
        }
    }

    private void range() {
        List<Dim> start = elements(0);
        List<Dim> limit = elements(1);
        List<Dim> delta = elements(2);
        if (start == null || limit == null || delta == null || start.size() != 1 || limit.size() != 1
                || delta.size() != 1 || start.get(0) == null || limit.get(0) == null || delta.get(0) == null) {
            set(0, List.of(fresh(0, 0)));
            return;
        }
        Dim s0 = start.get(0);
        Dim l = limit.get(0);
        Dim d = delta.get(0);
        Dim count = null;
        if (s0.isConstant() && l.isConstant() && d.isConstant() && d.constant() != 0) {
            long c = (long) Math.ceil((double) (l.constant() - s0.constant()) / d.constant());
            count = Dim.of(Math.max(0, c));
        } else if (d.isConstant(1) && l.minus(s0).isNonNegative()) {
            count = l.minus(s0);
        }
        set(0, List.of(count != null ? count : fresh(0, 0)));
        if (count != null && count.isConstant() && count.constant() <= SymbolicShapes.MAX_TRACKED) {
            List<Dim> v = new ArrayList<>();
            for (long i = 0; i < count.constant(); i++) {
                v.add(s0.plus(d.times(Dim.of(i))));
            }
            setElements(0, v);
        }
    }

    private void nonZero() {
        List<Dim> x = shape(0);
        if (x != null) {
            set(0, List.of(Dim.of(x.size()), fresh(0, 1)));
        }
    }

    private void matmul(boolean transA, boolean transB) {
        List<Dim> a = shape(0);
        List<Dim> b = shape(1);
        if (a == null || b == null || a.isEmpty() || b.isEmpty()) {
            return;
        }
        boolean a1 = a.size() == 1;
        boolean b1 = b.size() == 1;
        List<Dim> ap = a1 ? List.of(Dim.of(1), a.get(0)) : swapLast(a, transA);
        List<Dim> bp = b1 ? List.of(b.get(0), Dim.of(1)) : swapLast(b, transB);
        List<Dim> batch = broadcastShapes(List.of(ap.subList(0, ap.size() - 2), bp.subList(0, bp.size() - 2)), 0);
        if (batch == null) {
            return;
        }
        List<Dim> out = new ArrayList<>(batch);
        if (!a1) {
            out.add(ap.get(ap.size() - 2));
        }
        if (!b1) {
            out.add(bp.get(bp.size() - 1));
        }
        set(0, out);
    }

    private static List<Dim> swapLast(List<Dim> x, boolean swap) {
        if (!swap || x.size() < 2) {
            return x;
        }
        List<Dim> r = new ArrayList<>(x);
        Collections.swap(r, r.size() - 1, r.size() - 2);
        return r;
    }

    private void gemm() {
        List<Dim> a = shape(0);
        List<Dim> b = shape(1);
        if (a == null || b == null || a.size() != 2 || b.size() != 2) {
            return;
        }
        Dim m = Attrs.getInt(n, "transA", 0) != 0 ? a.get(1) : a.get(0);
        Dim nn = Attrs.getInt(n, "transB", 0) != 0 ? b.get(0) : b.get(1);
        set(0, List.of(m, nn));
    }

    private void reduce() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        long[] axes = intsAttrOrInput("axes", 1);
        boolean given = Attrs.getInts(n, "axes") != null || !in(1).isEmpty();
        if (given && axes == null) {
            return;
        }
        boolean keep = Attrs.getInt(n, "keepdims", 1) != 0;
        boolean[] reduced = new boolean[x.size()];
        if (!given || axes.length == 0) {
            if (Attrs.getInt(n, "noop_with_empty_axes", 0) != 0) {
                set(0, x);
                return;
            }
            Arrays.fill(reduced, true);
        } else {
            for (long a : axes) {
                int i = normalize(a, x.size());
                if (i < 0) {
                    return;
                }
                reduced[i] = true;
            }
        }
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < x.size(); i++) {
            if (!reduced[i]) {
                out.add(x.get(i));
            } else if (keep) {
                out.add(Dim.of(1));
            }
        }
        set(0, out);
    }

    private void argReduce() {
        List<Dim> x = shape(0);
        if (x == null) {
            return;
        }
        int axis = normalize(Attrs.getInt(n, "axis", 0), x.size());
        if (axis < 0) {
            return;
        }
        List<Dim> out = new ArrayList<>(x);
        if (Attrs.getInt(n, "keepdims", 1) != 0) {
            out.set(axis, Dim.of(1));
        } else {
            out.remove(axis);
        }
        set(0, out);
    }

    private void oneHot() {
        List<Dim> idx = shape(0);
        List<Dim> depth = elements(1);
        if (idx == null) {
            return;
        }
        int rank = idx.size() + 1;
        int axis = normalize(Attrs.getInt(n, "axis", -1), rank);
        if (axis < 0) {
            return;
        }
        List<Dim> out = new ArrayList<>(idx);
        Dim d = depth != null && depth.size() == 1 && depth.get(0) != null ? depth.get(0) : null;
        out.add(axis, d != null ? d : fresh(0, axis));
        set(0, out);
    }

    private void tile() {
        List<Dim> x = shape(0);
        List<Dim> reps = elements(1);
        if (x == null || reps == null || reps.size() != x.size()) {
            return;
        }
        List<Dim> out = new ArrayList<>();
        for (int i = 0; i < x.size(); i++) {
            out.add(reps.get(i) != null ? x.get(i).times(reps.get(i)) : fresh(0, i));
        }
        set(0, out);
    }

}
