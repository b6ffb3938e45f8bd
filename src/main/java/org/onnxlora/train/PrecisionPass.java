package org.onnxlora.train;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntToDoubleFunction;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.FloatTensorBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Rewrites a forward graph to compute the way PyTorch's autocast does, with the frozen weights
 * stored in the {@code target} type (converted here, once, so the artifacts hold them once):
 *
 * <ul>
 *   <li>matrix products ({@code MatMul}, {@code Gemm}, {@code FusedMatMul}) take all inputs in the
 *       target type: float32 values (the adapters, LayerNorm outputs) are cast at their inputs;</li>
 *   <li>softmax, log-softmax, LayerNorm, reductions, pow/exp/log/sqrt run in float32, their
 *       half inputs cast up (LayerNorm statistics are float32 outputs);</li>
 *   <li>every other op with several float inputs runs in the widest type among them (autocast's
 *       promotion), except that float scalar constants adopt the type of the tensors they meet
 *       (as Python scalars do in PyTorch), converted here with saturation so a float32 minimum
 *       used as a mask value stays finite;</li>
 *   <li>the named outputs (the logits) are cast to float32, so the loss is computed in it.</li>
 * </ul>
 *
 * With {@code target} float32 the same rules upcast a half-precision export. The backward needs
 * nothing else: the Cast rule brings each gradient back to its forward value's type, so the
 * float32 adapters receive float32 gradients.
 */
final class PrecisionPass {
    private static final Set<String> LOWER = Set.of("MatMul", "Gemm", "FusedMatMul");
    private static final Set<String> FP32 = Set.of("Softmax", "LogSoftmax", "LayerNormalization",
            "SimplifiedLayerNormalization", "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2",
            "ReduceLogSumExp", "Pow", "Exp", "Log", "Sqrt", "Reciprocal", "CumSum");
    private static final Set<String> COMPARE = Set.of("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual",
            "And", "Or", "Not", "Xor", "IsNaN", "IsInf");
    private static final Set<String> INDEX = Set.of("Shape", "Size", "NonZero", "ArgMax", "ArgMin");

    private final int target;
    private final NameGen names;
    private final Map<String, Integer> dtypes = new HashMap<>();
    private final Map<String, TensorProto> scalars = new HashMap<>();
    private final Map<String, String> casts = new HashMap<>();
    private final List<NodeProto> nodes = new ArrayList<>();
    private final List<TensorProto> inits = new ArrayList<>();

    private PrecisionPass(GraphProto graph, int target) {
        this.target = target;
        this.names = new NameGen(new GraphIndex(graph).allNames());
    }

    /**
     * The rewritten graph; {@code floatOutputs} (values the caller reads, such as the logits)
     * keep their names and become float32.
     */
    static GraphProto apply(GraphProto graph, int target, Set<String> floatOutputs) {
        return new PrecisionPass(graph, target).run(graph, floatOutputs);
    }

    private GraphProto run(GraphProto graph, Set<String> floatOutputs) {
        Map<String, List<NodeProto>> consumers = new HashMap<>();
        for (NodeProto n : graph.getNodeList()) {
            for (String in : n.getInputList()) {
                consumers.computeIfAbsent(in, k -> new ArrayList<>()).add(n);
            }
        }
        for (ValueInfoProto v : graph.getInputList()) {
            dtypes.put(v.getName(), v.getType().getTensorType().getElemType());
        }
        for (TensorProto t : graph.getInitializerList()) {
            inits.add(convertWeight(t, consumers.getOrDefault(t.getName(), List.of())));
        }
        for (NodeProto n : graph.getNodeList()) {
            rewrite(n, floatOutputs);
        }
        // a scalar all of whose uses took a converted copy is left unused: drop it (ORT would warn)
        Set<String> used = new HashSet<>();
        nodes.forEach(n -> used.addAll(n.getInputList()));
        used.addAll(floatOutputs);
        GraphProto.Builder out = graph.toBuilder().clearNode().clearInitializer().clearValueInfo()
                .addAllNode(nodes).addAllInitializer(inits.stream().filter(t -> used.contains(t.getName())).toList());
        // declared intermediate types would contradict the rewrite; keep only those that still hold
        for (ValueInfoProto v : graph.getValueInfoList()) {
            int declared = v.getType().getTensorType().getElemType();
            if (!Tensors.isFloatType(declared) || dtypes.getOrDefault(v.getName(), declared) == declared) {
                out.addValueInfo(v);
            }
        }
        return out.build();
    }

    /** A frozen weight in the type its consumers compute in; float scalars stay as they are (they adapt later). */
    private TensorProto convertWeight(TensorProto t, List<NodeProto> users) {
        int dt = t.getDataType();
        if (!Tensors.isFloatType(dt) || dt == DataType.DOUBLE_VALUE) {
            dtypes.put(t.getName(), dt);
            return t;
        }
        if (Tensors.elementCount(t) <= 1) {
            scalars.put(t.getName(), t);
            dtypes.put(t.getName(), dt);
            return t;
        }
        boolean onlyFp32 = !users.isEmpty() && users.stream().allMatch(PrecisionPass::isFp32Op);
        int want = onlyFp32 ? DataType.FLOAT_VALUE : target;
        dtypes.put(t.getName(), want);
        return dt == want ? t : converted(t, t.getName(), want);
    }

    private void rewrite(NodeProto n, Set<String> floatOutputs) {
        String op = n.getOpType();
        NodeProto.Builder b = n.toBuilder();
        if (op.equals("Constant")) {
            AttributeProto v = Attrs.find(n, "value").filter(AttributeProto::hasT).orElse(null);
            if (v != null && Tensors.isFloatType(v.getT().getDataType()) && Tensors.elementCount(v.getT()) <= 1) {
                scalars.put(n.getOutput(0), v.getT());
            }
        } else if (!op.equals("Cast") && !op.equals("CastLike")) {
            int want = wantedType(n);
            if (want != 0) {
                for (int i = 0; i < n.getInputCount(); i++) {
                    String in = n.getInput(i);
                    if (isFloat(in) && dtypes.get(in) != want) {
                        b.setInput(i, castTo(in, want));
                    }
                }
            }
        }
        NodeProto rewritten = b.build();
        for (int k = 0; k < rewritten.getOutputCount(); k++) {
            String out = rewritten.getOutput(k);
            if (!out.isEmpty()) {
                int dt = outputType(rewritten, k);
                if (dt != 0) {
                    dtypes.put(out, dt);
                }
            }
        }
        List<NodeProto> after = new ArrayList<>();
        for (int k = 0; k < rewritten.getOutputCount(); k++) {
            String out = rewritten.getOutput(k);
            Integer dt = dtypes.get(out);
            if (floatOutputs.contains(out) && dt != null && dt != DataType.FLOAT_VALUE && Tensors.isFloatType(dt)) {
                String inner = names.fresh(out + "/" + Tensors.typeName(dt));
                rewritten = rewritten.toBuilder().setOutput(k, inner).build();
                dtypes.put(inner, dt);
                dtypes.put(out, DataType.FLOAT_VALUE);
                after.add(castNode(inner, out, DataType.FLOAT_VALUE));
            }
        }
        nodes.add(rewritten);
        nodes.addAll(after);
    }

    /** The type every float input of {@code n} must have, or 0 when the node stays as it is. */
    private int wantedType(NodeProto n) {
        if (isLower(n)) {
            return target;
        }
        if (isFp32Op(n)) {
            return DataType.FLOAT_VALUE;
        }
        Set<Integer> strong = new HashSet<>();
        int floats = 0;
        for (String in : n.getInputList()) {
            if (isFloat(in)) {
                floats++;
                if (!scalars.containsKey(in)) {
                    strong.add(dtypes.get(in));
                }
            }
        }
        if (floats < 2 || strong.isEmpty()) {
            return 0;
        }
        return strong.size() == 1 ? strong.iterator().next() : DataType.FLOAT_VALUE;
    }

    private int outputType(NodeProto n, int k) {
        String op = n.getOpType();
        if (op.equals("Cast")) {
            return (int) Attrs.getInt(n, "to", 0);
        }
        if (op.equals("CastLike")) {
            return dtypes.getOrDefault(n.getInput(1), 0);
        }
        if (INDEX.contains(op)) {
            return DataType.INT64_VALUE;
        }
        if (COMPARE.contains(op)) {
            return DataType.BOOL_VALUE;
        }
        if (op.equals("Constant") || op.equals("ConstantOfShape")) {
            return Attrs.find(n, "value").filter(AttributeProto::hasT).map(a -> a.getT().getDataType())
                    .orElse(op.equals("Constant") ? 0 : DataType.FLOAT_VALUE);
        }
        if (op.equals("Dropout") && k == 1) {
            return DataType.BOOL_VALUE;
        }
        if (op.equals("LayerNormalization") && k > 0) {
            return (int) Attrs.getInt(n, "stash_type", DataType.FLOAT_VALUE);
        }
        if (op.equals("Where")) {
            return dtypes.getOrDefault(n.getInput(1), 0);
        }
        if (n.getInputCount() > 0 && dtypes.containsKey(n.getInput(0))) {
            return dtypes.get(n.getInput(0));
        }
        for (String in : n.getInputList()) {
            if (dtypes.containsKey(in)) {
                return dtypes.get(in);
            }
        }
        return 0;
    }

    /** {@code value} in type {@code to}: a scalar constant converted here, anything else through one Cast node. */
    private String castTo(String value, int to) {
        return casts.computeIfAbsent(value + "\0" + to, key -> {
            String name = names.fresh(value + "/" + Tensors.typeName(to));
            TensorProto scalar = scalars.get(value);
            if (scalar != null) {
                TensorProto c = converted(scalar, name, to);
                inits.add(c);
                scalars.put(name, c);
            } else {
                nodes.add(castNode(value, name, to));
            }
            dtypes.put(name, to);
            return name;
        });
    }

    private NodeProto castNode(String in, String out, int to) {
        return NodeProto.newBuilder().setOpType("Cast").setName(names.fresh("/precision/Cast")).addInput(in)
                .addOutput(out).addAttribute(Attrs.i("to", to)).build();
    }

    /** {@code t}'s values in type {@code to}, finite values beyond its range saturated to its largest. */
    static TensorProto converted(TensorProto t, String name, int to) {
        long[] dims = Tensors.shape(t);
        IntToDoubleFunction read = Tensors.reader(t);
        double max = maxFinite(to);
        FloatTensorBuilder b = new FloatTensorBuilder(name, dims, to);
        for (int i = 0, n = (int) Tensors.elementCount(t); i < n; i++) {
            double v = read.applyAsDouble(i);
            b.set(i, Double.isFinite(v) ? Math.max(-max, Math.min(max, v)) : v);
        }
        return b.build();
    }

    private static double maxFinite(int dataType) {
        return switch (dataType) {
            case DataType.FLOAT16_VALUE -> 65504.0;
            // the largest bfloat16 below float32's maximum, which itself rounds up to infinity
            case DataType.BFLOAT16_VALUE -> 3.3895313892515355e38;
            case DataType.FLOAT_VALUE -> Float.MAX_VALUE;
            default -> Double.MAX_VALUE;
        };
    }

    private boolean isFloat(String value) {
        Integer dt = value.isEmpty() ? null : dtypes.get(value);
        return dt != null && Tensors.isFloatType(dt) && dt != DataType.DOUBLE_VALUE;
    }

    private static boolean isLower(NodeProto n) {
        return LOWER.contains(n.getOpType());
    }

    private static boolean isFp32Op(NodeProto n) {
        return FP32.contains(n.getOpType());
    }
}
