import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.graph.NameGen;
import org.onnxlora.graph.NodeEdits;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.io.FileTrees;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.Float64Probe;
import org.onnxlora.train.GradientProbe;

/**
 * Which float32 ops make a CPU step inexact: the training graph with the chosen nodes computed in float64 islands
 * (their float inputs cast up, the op in double, the output cast back), everything else float32 as before, and the
 * CPU step of both graphs measured against the float64 step ({@link Float64Probe}) at each STATE (LockstepParity's
 * step-N.safetensors). Where an island removes the error, that op's float32 rounding is where it comes from.
 *
 *   java -cp "target/classes:target/lib/*" tools/bench/Float64Islands.java ARTIFACTS OPS[:K] STATE...
 *
 * OPS is a comma-separated list of op types among MatMul, FusedMatMul, Gemm, Softmax, LogSoftmax, ReduceSum and
 * Sum; K keeps only the products whose reduced dim is {@code big} (a constant ≥ 1000: the vocabulary),
 * {@code small} (a smaller constant) or {@code sym} (symbolic: tokens or lengths). The CPU runs 4 threads.
 *
 * <p>{@code blocked:C} instead keeps float32 and writes the products over the vocabulary ({@code A · W}, W a 2-D
 * initializer of ≥ 1000 rows) as C partial products summed at the end: A reshaped to [..., C, V/C] and transposed
 * to [C, ..., V/C], W reshaped to [C, V/C, N], one batched MatMul, a ReduceSum over the C blocks. It measures what
 * a blocked sum would buy the CPU step.
 */
public final class Float64Islands {
    private static final int F32 = TensorProto.DataType.FLOAT_VALUE;
    private static final int F64 = TensorProto.DataType.DOUBLE_VALUE;
    private static final Set<String> PRODUCTS = Set.of("MatMul", "FusedMatMul", "Gemm");
    private static final Set<String> KNOWN = Set.of("MatMul", "FusedMatMul", "Gemm", "Softmax", "LogSoftmax",
            "ReduceSum", "Sum");

    public static void main(String[] a) throws IOException {
        if (a.length < 3) {
            System.err.println("usage: Float64Islands ARTIFACTS OPS[:big|small|sym] STATE...");
            System.exit(2);
        }
        Path art = Path.of(a[0]);
        String[] spec = a[1].split(":", 2);
        Set<String> ops = Set.copyOf(Arrays.asList(spec[0].split(",")));
        if (!KNOWN.containsAll(ops) && !(ops.equals(Set.of("blocked")) && spec.length == 2)) {
            System.err.println("Float64Islands: OPS must be among " + KNOWN + ", or blocked:C");
            System.exit(2);
        }
        String k = spec.length > 1 ? spec[1] : "all";
        Path islands = Files.createTempDirectory("float64-islands");
        try {
            int n = write(art, ops, k, islands);
            String what = ops.contains("blocked") ? "vocabulary products in " + k + " float32 blocks"
                    : a[1] + " in float64";
            System.err.printf(Locale.ROOT, "%d nodes: %s%n", n, what);
            RuntimeOptions cpu = RuntimeOptions.defaults().withThreads(4);
            try (Float64Probe exact = Float64Probe.open(art, 4)) {
                for (int i = 2; i < a.length; i++) {
                    Path state = Path.of(a[i]);
                    Float64Probe.Result ref = exact.gradients(state);
                    GradientProbe.Result f32 = GradientProbe.run(art, cpu, state);
                    GradientProbe.Result isl = GradientProbe.run(islands, cpu, state);
                    Float64Probe.Deviation d0 = ref.deviation(f32.meanLoss(), f32.gradients());
                    Float64Probe.Deviation d1 = ref.deviation(isl.meanLoss(), isl.gradients());
                    System.out.printf(Locale.ROOT, "%s  float32: grad norm %.2e, gradient %.2e | %s:"
                            + " grad norm %.2e, gradient %.2e (%d nodes)%n", state.getFileName(), d0.gradNorm(),
                            d0.gradient(), what, d1.gradNorm(), d1.gradient(), n);
                }
            }
        } finally {
            FileTrees.delete(islands);
        }
    }

    /** Copies the artifacts to {@code out} with the selected nodes as float64 islands; returns how many. */
    private static int write(Path art, Set<String> ops, String k, Path out) throws IOException {
        try (var files = Files.list(art)) {
            for (Path f : files.toList()) {
                if (!f.getFileName().toString().equals("training_model.onnx")) {
                    Files.copy(f, out.resolve(f.getFileName()));
                }
            }
        }
        ModelProto m = ModelIO.load(art.resolve("training_model.onnx"));
        GraphProto g = m.getGraph();
        SymbolicShapes shapes = SymbolicShapes.infer(g);
        GraphIndex index = new GraphIndex(g);
        NameGen names = new NameGen(index.allNames());
        NodeEdits edits = new NodeEdits();
        List<TensorProto> constants = new ArrayList<>();
        int count = 0;
        for (int i = 0; i < index.nodeCount(); i++) {
            NodeProto n = index.node(i);
            if (ops.contains("blocked")) {
                List<NodeProto> blocked = blocked(n, index, shapes, names, Integer.parseInt(k), constants);
                if (blocked != null) {
                    edits.replace(i, blocked);
                    count++;
                }
                continue;
            }
            if (!ops.contains(n.getOpType()) || !selected(n, shapes, k)) {
                continue;
            }
            GraphBuilder b = new GraphBuilder(names).scope(n.getName() + "/float64");
            int floats = PRODUCTS.contains(n.getOpType()) || n.getOpType().equals("Sum") ? n.getInputCount() : 1;
            List<String> in = new ArrayList<>();
            for (int j = 0; j < n.getInputCount(); j++) {
                String v = n.getInput(j);
                in.add(j < floats && !v.isEmpty() ? b.op("Cast", v, Attrs.i("to", F64)) : v);
            }
            String y;
            if (n.getOpType().equals("FusedMatMul")) { // contrib, float only: Transpose + MatMul + Mul
                String x0 = Attrs.getInt(n, "transA", 0) != 0 ? swapLast(b, in.get(0), shapes.rank(n.getInput(0)))
                        : in.get(0);
                String x1 = Attrs.getInt(n, "transB", 0) != 0 ? swapLast(b, in.get(1), shapes.rank(n.getInput(1)))
                        : in.get(1);
                y = b.op("MatMul", x0, x1);
                float alpha = Attrs.getFloat(n, "alpha", 1f);
                y = alpha == 1f ? y : b.op("Mul", y, b.scalar(alpha, F64));
            } else {
                y = b.opN(n.getDomain(), n.getOpType(), 1, in, n.getAttributeList().toArray(new AttributeProto[0]))[0];
            }
            b.add("", "Cast", names.fresh(n.getName() + "/float32"), List.of(y), List.of(n.getOutput(0)),
                    Attrs.i("to", F32));
            edits.replace(i, b.nodes());
            constants.addAll(b.initializers());
            count++;
        }
        GraphProto islands = edits.applyTo(index, g).addAllInitializer(constants).clearValueInfo().build();
        ModelIO.save(m.toBuilder().setGraph(islands).build(), out.resolve("training_model.onnx"),
                ModelIO.ExternalData.NEVER);
        return count;
    }

    /** Whether a product's reduced dim is of the kind asked for ({@code all} keeps every node). */
    private static boolean selected(NodeProto n, SymbolicShapes shapes, String k) {
        if (k.equals("all") || !PRODUCTS.contains(n.getOpType())) {
            return true;
        }
        List<Dim> s = shapes.shape(n.getInput(0));
        if (s == null) {
            return false;
        }
        Dim d = s.get(Attrs.getInt(n, "transA", 0) != 0 ? s.size() - 2 : s.size() - 1);
        return switch (k) {
            case "big" -> d.isConstant() && d.constant() >= 1000;
            case "small" -> d.isConstant() && d.constant() < 1000;
            case "sym" -> !d.isConstant();
            default -> throw new IllegalArgumentException("K must be big, small or sym, not " + k);
        };
    }

    /** The vocabulary product {@code n} summed in {@code c} blocks, or null when {@code n} is not one. */
    private static List<NodeProto> blocked(NodeProto n, GraphIndex index, SymbolicShapes shapes, NameGen names, int c,
            List<TensorProto> constants) {
        if (!PRODUCTS.contains(n.getOpType()) || n.getOpType().equals("Gemm") || Attrs.getInt(n, "transA", 0) != 0
                || Attrs.getInt(n, "transB", 0) != 0 || Attrs.getFloat(n, "alpha", 1f) != 1f) {
            return null;
        }
        TensorProto w = index.initializer(n.getInput(1));
        int rank = shapes.rank(n.getInput(0));
        if (w == null || w.getDimsCount() != 2 || w.getDims(0) < 1000 || rank < 2) {
            return null;
        }
        long v = w.getDims(0);
        if (v % c != 0) {
            throw new IllegalArgumentException(n.getName() + ": " + c + " does not divide the vocabulary " + v);
        }
        GraphBuilder b = new GraphBuilder(names).scope(n.getName() + "/blocked");
        long[] split = new long[rank + 1]; // [0, …, 0, c, v/c]: Reshape's 0 keeps a dim
        split[rank - 1] = c;
        split[rank] = v / c;
        long[] blocksFirst = new long[rank + 1];
        blocksFirst[0] = rank - 1;
        for (int j = 1; j < rank; j++) {
            blocksFirst[j] = j - 1;
        }
        blocksFirst[rank] = rank;
        long[] weight = new long[rank + 1]; // [c, 1, …, 1, v/c, N]
        Arrays.fill(weight, 1);
        weight[0] = c;
        weight[rank - 1] = v / c;
        weight[rank] = w.getDims(1);
        String a = b.op("Transpose", b.op("Reshape", n.getInput(0), b.ints(split)), Attrs.ints("perm", blocksFirst));
        String partial = b.op("MatMul", a, b.op("Reshape", n.getInput(1), b.ints(weight)));
        b.add("", "ReduceSum", names.fresh(n.getName() + "/blocks"), List.of(partial, b.ints(0)),
                List.of(n.getOutput(0)), Attrs.i("keepdims", 0));
        constants.addAll(b.initializers());
        return b.nodes();
    }

    private static String swapLast(GraphBuilder b, String v, int rank) {
        long[] perm = new long[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = i;
        }
        perm[rank - 2] = rank - 1;
        perm[rank - 1] = rank - 2;
        return b.op("Transpose", v, Attrs.ints("perm", perm));
    }
}
