import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.autodiff.ValueTypes;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.io.ModelIO;

/**
 * What a compiled training graph keeps from its forward for its backward (issue 11, GPU memory): every value a
 * forward node produces (the model and the loss) that a gradient node ({@code /grad/...}, {@code /loss/grad/...})
 * reads, sized from the
 * compile-time shapes at a given batch and lengths. These values are all alive when the backward starts, so their
 * sum is a lower bound of the activation memory of a step; weights and batch inputs are not counted (they are
 * alive anyway). Printed: the total, the bytes by producing op type and by shape, and the largest values;
 * tools/torch_saved_tensors.py prints the same for PyTorch + PEFT.
 *
 *   java -cp "target/onnx-lora.jar:target/lib/*" tools/bench/SavedActivations.java ARTIFACTS/training_model.onnx \
 *       [BATCH SOURCE TARGET [TOP]]
 */
public final class SavedActivations {
    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        long batch = args.length > 1 ? Long.parseLong(args[1]) : 32;
        long source = args.length > 2 ? Long.parseLong(args[2]) : 128;
        long target = args.length > 3 ? Long.parseLong(args[3]) : 32;
        int top = args.length > 4 ? Integer.parseInt(args[4]) : 15;
        GraphProto g = ModelIO.load(model).getGraph();
        // the runner's batch contract (train/BatchDims)
        Map<String, List<String>> contract = Map.of("input_ids", List.of("batch", "source_length"),
                "attention_mask", List.of("batch", "source_length"),
                "decoder_input_ids", List.of("batch", "target_length"),
                "decoder_attention_mask", List.of("batch", "target_length"),
                "labels", List.of("batch", "target_length"));
        Map<String, List<String>> dims = new HashMap<>();
        for (ValueInfoProto in : g.getInputList()) {
            if (contract.containsKey(in.getName())) {
                dims.put(in.getName(), contract.get(in.getName()));
            }
        }
        SymbolicShapes shapes = SymbolicShapes.infer(g, dims);
        ValueTypes types = new ValueTypes(g);
        Map<String, Long> bind = Map.of("batch", batch, "source_length", source, "target_length", target);

        Set<String> notActivations = new HashSet<>();
        g.getInitializerList().forEach(t -> notActivations.add(t.getName()));
        g.getInputList().forEach(v -> notActivations.add(v.getName()));
        Map<String, NodeProto> producer = new HashMap<>();
        for (NodeProto n : g.getNodeList()) {
            if (!isGrad(n)) {
                n.getOutputList().forEach(o -> producer.put(o, n));
            }
        }
        Set<String> saved = new java.util.LinkedHashSet<>();
        for (NodeProto n : g.getNodeList()) {
            if (isGrad(n)) {
                for (String in : n.getInputList()) {
                    if (producer.containsKey(in) && !notActivations.contains(in)) {
                        saved.add(in);
                    }
                }
            }
        }
        long total = 0;
        long unknown = 0;
        Map<String, long[]> byOp = new TreeMap<>();
        Map<String, long[]> byShape = new TreeMap<>();
        List<Object[]> rows = new ArrayList<>();
        for (String v : saved) {
            Long bytes = bytes(shapes, types, v, bind);
            NodeProto p = producer.get(v);
            if (bytes == null) {
                unknown++;
                continue;
            }
            total += bytes;
            String op = p.getOpType();
            byOp.computeIfAbsent(op, k -> new long[2])[0] += bytes;
            byOp.get(op)[1]++;
            String shape = shapes.shape(v).toString() + " " + typeName(types.dtype(v));
            byShape.computeIfAbsent(shape, k -> new long[2])[0] += bytes;
            byShape.get(shape)[1]++;
            rows.add(new Object[] {bytes, v, op, shape});
        }
        long gradNodes = g.getNodeList().stream().filter(SavedActivations::isGrad).count();
        System.out.printf(Locale.ROOT, "%s at batch %d, source %d, target %d: %d nodes (%d gradient), %d values kept for"
                + " the backward, %.1f MB (%d of unknown size)%n", model, batch, source, target, g.getNodeCount(),
                gradNodes, saved.size(), total / 1e6, unknown);
        System.out.println();
        System.out.println("| producing op | values | MB | share |");
        System.out.println("|---|---:|---:|---:|");
        long t = Math.max(total, 1);
        byOp.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0]))
                .forEach(e -> System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.3f |%n", e.getKey(), e.getValue()[1],
                        e.getValue()[0] / 1e6, (double) e.getValue()[0] / t));
        System.out.println();
        System.out.println("| shape | values | MB | share |");
        System.out.println("|---|---:|---:|---:|");
        byShape.entrySet().stream().sorted((a, b) -> Long.compare(b.getValue()[0], a.getValue()[0])).limit(top)
                .forEach(e -> System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.3f |%n", e.getKey(),
                        e.getValue()[1], e.getValue()[0] / 1e6, (double) e.getValue()[0] / t));
        System.out.println();
        System.out.println("| value | producing op | shape | MB |");
        System.out.println("|---|---|---|---:|");
        rows.sort((a, b) -> Long.compare((Long) b[0], (Long) a[0]));
        rows.stream().limit(top).forEach(r -> System.out.printf(Locale.ROOT, "| %s | %s | %s | %.2f |%n", r[1], r[2], r[3],
                (Long) r[0] / 1e6));
    }

    /** Gradient nodes: the backprop's, and the loss's own backward (its dlogits). */
    static boolean isGrad(NodeProto n) {
        return n.getName().startsWith("/grad/") || n.getName().startsWith("/loss/grad/");
    }

    static Long bytes(SymbolicShapes shapes, ValueTypes types, String v, Map<String, Long> bind) {
        List<Dim> s = shapes.shape(v);
        if (s == null) {
            return null;
        }
        long n = 1;
        for (Dim d : s) {
            if (!bind.keySet().containsAll(d.symbols())) {
                return null;
            }
            n *= d.evaluate(bind);
        }
        return n * elementBytes(types.dtype(v));
    }

    static long elementBytes(int dtype) {
        return switch (dtype) {
            case TensorProto.DataType.DOUBLE_VALUE, TensorProto.DataType.INT64_VALUE -> 8;
            case TensorProto.DataType.FLOAT16_VALUE, TensorProto.DataType.BFLOAT16_VALUE -> 2;
            case TensorProto.DataType.BOOL_VALUE, TensorProto.DataType.UINT8_VALUE, TensorProto.DataType.INT8_VALUE -> 1;
            default -> 4;
        };
    }

    static String typeName(int dtype) {
        return switch (dtype) {
            case TensorProto.DataType.FLOAT_VALUE -> "f32";
            case TensorProto.DataType.INT64_VALUE -> "i64";
            case TensorProto.DataType.BOOL_VALUE -> "bool";
            case TensorProto.DataType.FLOAT16_VALUE -> "f16";
            case 0 -> "?";
            default -> "t" + dtype;
        };
    }
}
