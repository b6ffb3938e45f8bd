package org.onnxlora.synth;

import java.util.Arrays;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * The TorchScript exporter's small idioms, written through a {@link GraphBuilder}:
 * every op is named {@code <module scope>/<OpType>[_k]}, constants are {@code Constant}
 * nodes in the scope that uses them (not initializers), and a dimension is read as
 * {@code Shape → Gather}. Synthetic graphs built this way look like real exports to
 * anything that reads node names.
 */
final class ExporterOps {
    private final GraphBuilder g;
    private final int floatType;

    ExporterOps(GraphBuilder g, int floatType) {
        this.g = g;
        this.floatType = floatType;
    }

    int floatType() {
        return floatType;
    }

    String op(String scope, String opType, List<String> inputs, AttributeProto... attrs) {
        return g.scope(scope).op(opType, inputs, attrs);
    }

    String op(String scope, String opType, String input, AttributeProto... attrs) {
        return op(scope, opType, List.of(input), attrs);
    }

    String op(String scope, String opType, String a, String b, AttributeProto... attrs) {
        return op(scope, opType, List.of(a, b), attrs);
    }

    /** A node whose single output has a name fixed by the caller (graph outputs such as {@code logits}). */
    void opTo(String scope, String opType, List<String> inputs, String output) {
        g.names().reserve(output);
        g.add("", opType, g.names().fresh(scope + "/" + opType), inputs, List.of(output));
    }

    private String constant(String scope, TensorProto value) {
        return op(scope, "Constant", List.of(), Attrs.t("value", value));
    }

    /** A 1-D int64 {@code Constant} (axes, shape pieces). */
    String ints(String scope, long... values) {
        return constant(scope, Tensors.ofLongs("", new long[] {values.length}, values));
    }

    /** A rank-0 int64 {@code Constant}. */
    String int0(String scope, long value) {
        return constant(scope, Tensors.ofLongs("", new long[0], value));
    }

    /** A rank-0 {@code Constant} of the model's float type. */
    String scalar(String scope, double value) {
        return constant(scope, Tensors.scalar("", value, floatType));
    }

    /** {@code x.shape[axis]} as a rank-0 int64: {@code Shape → Gather(axis=0)}. */
    String dim(String scope, String x, long axis) {
        String shape = op(scope, "Shape", x);
        return op(scope, "Gather", shape, int0(scope, axis), Attrs.i("axis", 0));
    }

    String unsqueeze(String scope, String x, long... axes) {
        return op(scope, "Unsqueeze", x, ints(scope, axes));
    }

    /** A runtime shape: each part is either a rank-0 int64 value name or a literal {@code Long}. */
    String shapeOf(String scope, Object... parts) {
        List<String> pieces = Arrays.stream(parts)
                .map(p -> p instanceof Long l ? ints(scope, l) : unsqueeze(scope, (String) p, 0))
                .toList();
        return op(scope, "Concat", pieces, Attrs.i("axis", 0));
    }

    String transpose(String scope, String x, long... perm) {
        return op(scope, "Transpose", x, Attrs.ints("perm", perm));
    }

    String reshape(String scope, String x, String shape) {
        return op(scope, "Reshape", x, shape, Attrs.i("allowzero", 0));
    }
}
