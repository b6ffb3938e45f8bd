package org.onnxlora.train;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.Domains;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.GraphPass;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.PassResult;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * The same float32 graph computed in float64, for a reference of what a compiled step computes exactly
 * ({@link Float64Probe}): every float initializer, constant, cast target and graph input or output becomes double.
 * Run {@link LayerNormDecompositionPass} first: ONNX Runtime's CPU kernels that have no double form are written in
 * ops that do.
 * <ul>
 * <li>{@code com.microsoft:FusedMatMul}: Transpose of the last two axes where asked, MatMul, Mul by alpha. The
 * transposes need each operand's rank, which {@link SymbolicShapes} derives.
 * <li>{@code Erf} (float only on the CPU) and {@code com.microsoft:Gelu} ({@code x·(1 + erf(x/√2))/2}): erf as
 * {@code 2/√π · e^{−x²} · Σₙ 2ⁿ x^{2n+1} / (2n+1)!!}, every term of one sign, so the sum has no cancellation; x is
 * clipped to ±6, where erf is ±1 in double. Its relative error is about (1 + 2x²) ulps, the rounding of x² that
 * e^{−x²} amplifies: 4e-15 at the clip, far below anything a float32 comparison resolves. The terms exist at once
 * ({@value #ERF_TERMS} per element): a reference for the small fixtures, not a way to train.
 * </ul>
 * Half-precision graphs and any other contrib op are refused, naming the node: their float64 form would be a
 * different computation, or one this pass would have to guess.
 */
final class Float64Pass implements GraphPass {
    /** Past n ≈ x² the terms fall by 2x²/(2n+1); at |x| = 6 the 140th is ~1e-26 of the sum. */
    static final int ERF_TERMS = 140;
    static final double ERF_CLIP = 6.0;
    private static final int F32 = TensorProto.DataType.FLOAT_VALUE;
    private static final int F64 = TensorProto.DataType.DOUBLE_VALUE;

    @Override
    public String name() {
        return "float64";
    }

    @Override
    public PassResult<GraphProto> apply(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        SymbolicShapes shapes = SymbolicShapes.infer(graph);
        NameGen names = new NameGen(g.allNames());
        NodeEdits edits = new NodeEdits();
        List<TensorProto> constants = new ArrayList<>();
        List<String> changed = new ArrayList<>();
        for (int i = 0; i < g.nodeCount(); i++) {
            NodeProto n = g.node(i);
            GraphBuilder b = new GraphBuilder(names).scope(n.getName().isEmpty() ? "/f64" : n.getName());
            List<NodeProto> replacement;
            if (Domains.isDefault(n) && n.getOpType().equals("Erf")) {
                b.add("", "Identity", names.fresh(b.scope() + "/erf"), List.of(erf(b, n.getInput(0))),
                        List.of(n.getOutput(0)));
                replacement = b.nodes();
            } else if (isContrib(n, "Gelu")) {
                String x = n.getInput(0);
                String e = erf(b, b.op("Mul", x, b.scalar(Math.sqrt(0.5), F64)));
                String half = b.op("Mul", x, b.scalar(0.5, F64));
                b.add("", "Mul", names.fresh(b.scope() + "/gelu"), List.of(half, b.op("Add", e,
                        b.scalar(1.0, F64))), List.of(n.getOutput(0)));
                replacement = b.nodes();
            } else if (isContrib(n, "FusedMatMul")) {
                replacement = fusedMatMul(b, n, shapes);
            } else if (!Domains.isDefault(n)) {
                throw refuse(n, "contrib op " + n.getDomain() + ":" + n.getOpType() + " has no float64 form here");
            } else {
                NodeProto widened = widenAttributes(n);
                if (widened == n) {
                    continue;
                }
                replacement = List.of(widened);
            }
            edits.replace(i, replacement);
            constants.addAll(b.initializers());
            changed.add(GraphIndex.describe(n));
        }
        GraphProto.Builder out = edits.applyTo(g, graph);
        List<TensorProto> inits = new ArrayList<>();
        for (TensorProto t : out.getInitializerList()) {
            inits.add(widen(t));
        }
        out.clearInitializer().addAllInitializer(inits).addAllInitializer(constants);
        // ORT infers the intermediate types again; the stored ones say float
        out.clearValueInfo();
        List<ValueInfoProto> ins = out.getInputList().stream().map(Float64Pass::widen).toList();
        List<ValueInfoProto> outs = out.getOutputList().stream().map(Float64Pass::widen).toList();
        out.clearInput().addAllInput(ins).clearOutput().addAllOutput(outs);
        return new PassResult<>(name(), out.build(), changed, List.of());
    }

    private static boolean isContrib(NodeProto n, String opType) {
        return n.getDomain().equals(GraphBuilder.MS_DOMAIN) && n.getOpType().equals(opType);
    }

    /** {@code alpha · A'·B'} with A' and B' the operands, their last two axes swapped where the node asks. */
    private static List<NodeProto> fusedMatMul(GraphBuilder b, NodeProto n, SymbolicShapes shapes) {
        if (Attrs.getInt(n, "transBatchA", 0) != 0 || Attrs.getInt(n, "transBatchB", 0) != 0) {
            throw refuse(n, "FusedMatMul with transBatchA/transBatchB has no float64 form here");
        }
        String a = transposedIf(b, n, 0, Attrs.getInt(n, "transA", 0) != 0, shapes);
        String c = transposedIf(b, n, 1, Attrs.getInt(n, "transB", 0) != 0, shapes);
        double alpha = Attrs.getFloat(n, "alpha", 1f);
        if (alpha == 1.0) {
            b.add("", "MatMul", b.names().fresh(b.scope() + "/matmul"), List.of(a, c), List.of(n.getOutput(0)));
        } else {
            b.add("", "Mul", b.names().fresh(b.scope() + "/alpha"), List.of(b.op("MatMul", a, c),
                    b.scalar(alpha, F64)), List.of(n.getOutput(0)));
        }
        return b.nodes();
    }

    private static String transposedIf(GraphBuilder b, NodeProto n, int input, boolean transpose,
            SymbolicShapes shapes) {
        String v = n.getInput(input);
        if (!transpose) {
            return v;
        }
        int rank = shapes.rank(v);
        if (rank < 2) {
            throw refuse(n, "the rank of input " + input + " ('" + v + "') is not known at compile time");
        }
        long[] perm = new long[rank];
        for (int k = 0; k < rank; k++) {
            perm[k] = k;
        }
        perm[rank - 2] = rank - 1;
        perm[rank - 1] = rank - 2;
        return b.op("Transpose", v, Attrs.ints("perm", perm));
    }

    /** erf(x) in double, by the all-positive series (see the class comment). */
    private static String erf(GraphBuilder b, String x) {
        double[] exponents = new double[ERF_TERMS];
        double[] coefficients = new double[ERF_TERMS];
        double c = 1;
        for (int k = 0; k < ERF_TERMS; k++) {
            exponents[k] = 2 * k + 1;
            coefficients[k] = c;
            c *= 2.0 / (2 * k + 3);
        }
        long[] dims = {ERF_TERMS};
        String clipped = b.op("Max", b.op("Min", x, b.scalar(ERF_CLIP, F64)), b.scalar(-ERF_CLIP, F64));
        String powers = b.op("Pow", b.op("Unsqueeze", clipped, b.ints(-1)),
                b.initializer(Tensors.ofDoubles(b.scope() + "/erf_exponents", dims, exponents, F64)));
        String terms = b.op("Mul", powers,
                b.initializer(Tensors.ofDoubles(b.scope() + "/erf_coefficients", dims, coefficients, F64)));
        String sum = b.op("ReduceSum", List.of(terms, b.ints(-1)), Attrs.i("keepdims", 0));
        String gauss = b.op("Exp", b.op("Neg", b.op("Mul", clipped, clipped)));
        return b.op("Mul", b.op("Mul", gauss, sum), b.scalar(2 / Math.sqrt(Math.PI), F64));
    }

    /** The node with float casts, constants and fills in double; the node itself when nothing is float. */
    private static NodeProto widenAttributes(NodeProto n) {
        boolean any = false;
        NodeProto.Builder nb = n.toBuilder().clearAttribute();
        for (AttributeProto a : n.getAttributeList()) {
            AttributeProto w = a;
            if (n.getOpType().equals("Cast") && a.getName().equals("to")) {
                requireNotHalf(n, (int) a.getI());
                w = a.getI() == F32 ? a.toBuilder().setI(F64).build() : a;
            } else if (a.getType() == AttributeProto.AttributeType.TENSOR) {
                requireNotHalf(n, a.getT().getDataType());
                w = a.toBuilder().setT(widen(a.getT())).build();
            } else if (n.getOpType().equals("Constant") && a.getName().startsWith("value_float")) {
                double[] v = a.getName().equals("value_float") ? new double[] {a.getF()}
                        : a.getFloatsList().stream().mapToDouble(Float::doubleValue).toArray();
                long[] dims = a.getName().equals("value_float") ? new long[0] : new long[] {v.length};
                w = Attrs.t("value", Tensors.ofDoubles("", dims, v, F64));
            } else if (a.getName().equals("to") || a.getName().equals("dtype")) {
                requireNotHalf(n, (int) a.getI());
                if (a.getI() == F32) {
                    throw refuse(n, "attribute '" + a.getName() + "' makes float32 in an op this pass does not know");
                }
            }
            any |= w != a;
            nb.addAttribute(w);
        }
        return any ? nb.build() : n;
    }

    private static TensorProto widen(TensorProto t) {
        if (t.getDataType() == TensorProto.DataType.FLOAT16_VALUE
                || t.getDataType() == TensorProto.DataType.BFLOAT16_VALUE) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "tensor '" + t.getName() + "' is "
                    + Tensors.typeName(t.getDataType()) + ": the float64 reference is of float32 graphs");
        }
        if (t.getDataType() != F32) {
            return t;
        }
        return Tensors.ofDoubles(t.getName(), Tensors.shape(t), Tensors.toDoubles(t), F64);
    }

    private static ValueInfoProto widen(ValueInfoProto v) {
        TypeProto.Tensor tt = v.getType().getTensorType();
        if (!v.getType().hasTensorType() || tt.getElemType() != F32) {
            return v;
        }
        return v.toBuilder().setType(v.getType().toBuilder().setTensorType(tt.toBuilder().setElemType(F64))).build();
    }

    private static void requireNotHalf(NodeProto n, int dataType) {
        if (dataType == TensorProto.DataType.FLOAT16_VALUE || dataType == TensorProto.DataType.BFLOAT16_VALUE) {
            throw refuse(n, "it computes in " + Tensors.typeName(dataType)
                    + ": the float64 reference is of float32 graphs");
        }
    }

    private static OnnxLoraException refuse(NodeProto n, String why) {
        return new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, "float64 reference: node "
                + GraphIndex.describe(n) + ": " + why);
    }
}
