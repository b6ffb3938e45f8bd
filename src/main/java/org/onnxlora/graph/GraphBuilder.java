package org.onnxlora.graph;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Emits new nodes and constant initializers into a graph under construction, with
 * fresh names. Passes and gradient rules write through one builder so that every
 * name they mint is unique across the whole graph.
 *
 * <p>Nodes are named {@code <scope>/<OpType>} and their outputs
 * {@code <scope>/<OpType>_output_<k>}, the TorchScript exporter's convention, so
 * Netron shows emitted subgraphs grouped by the scope that made them.
 */
public final class GraphBuilder {
    public static final String MS_DOMAIN = "com.microsoft";

    private final NameGen names;
    private final List<NodeProto> nodes = new ArrayList<>();
    private final List<TensorProto> initializers = new ArrayList<>();
    private String scope = "";

    public GraphBuilder(NameGen names) {
        this.names = names;
    }

    public NameGen names() {
        return names;
    }

    /** Sets the prefix of names minted from now on (e.g. {@code /grad/model/encoder/layers.0/fc1}). */
    public GraphBuilder scope(String scope) {
        this.scope = scope == null ? "" : scope;
        return this;
    }

    public String scope() {
        return scope;
    }

    /** One-output op in the default domain. */
    public String op(String opType, List<String> inputs, AttributeProto... attrs) {
        return opN("", opType, 1, inputs, attrs)[0];
    }

    public String op(String opType, String input, AttributeProto... attrs) {
        return op(opType, List.of(input), attrs);
    }

    public String op(String opType, String a, String b, AttributeProto... attrs) {
        return op(opType, List.of(a, b), attrs);
    }

    /** One-output op in {@code domain} (e.g. {@link #MS_DOMAIN} for FusedMatMul). */
    public String opIn(String domain, String opType, List<String> inputs, AttributeProto... attrs) {
        return opN(domain, opType, 1, inputs, attrs)[0];
    }

    /** An op with {@code outputs} outputs; returns their fresh names. */
    public String[] opN(String domain, String opType, int outputs, List<String> inputs, AttributeProto... attrs) {
        String nodeName = names.fresh(scope + "/" + opType);
        String[] outs = new String[outputs];
        for (int k = 0; k < outputs; k++) {
            outs[k] = names.fresh(nodeName + "_output_" + k);
        }
        add(domain, opType, nodeName, inputs, Arrays.asList(outs), attrs);
        return outs;
    }

    /** An op whose output names the caller chose (they must already be reserved or fresh). */
    public NodeProto add(String domain, String opType, String nodeName, List<String> inputs, List<String> outputs,
            AttributeProto... attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(opType).setName(nodeName)
                .addAllInput(inputs).addAllOutput(outputs);
        if (domain != null && !domain.isEmpty()) {
            n.setDomain(domain);
        }
        for (AttributeProto a : attrs) {
            n.addAttribute(a);
        }
        NodeProto node = n.build();
        nodes.add(node);
        return node;
    }

    /**
     * {@code ReduceSum(value, axes)} with the reduced axes kept as size 1, so the sum broadcasts back against
     * {@code value}: the row sums of softmax, log-softmax and LayerNorm and their gradients.
     */
    public String sumKeepDims(String value, String axes) {
        return op("ReduceSum", List.of(value, axes), Attrs.i("keepdims", 1));
    }

    /** Adds {@code value} as an initializer under a fresh name derived from its own name; returns the name. */
    public String initializer(TensorProto value) {
        String name = names.fresh(value.getName().isEmpty() ? scope + "/const" : value.getName());
        initializers.add(value.toBuilder().setName(name).build());
        return name;
    }

    /** A rank-0 float-typed constant of {@code dataType}. */
    public String scalar(double value, int dataType) {
        return initializer(Tensors.scalar(scope + "/scalar", value, dataType));
    }

    /** A 1-D int64 constant, e.g. axes or a shape. */
    public String ints(long... values) {
        return initializer(Tensors.ofLongs(scope + "/ints", new long[] {values.length}, values));
    }

    /** A rank-0 int64 constant. */
    public String int0(long value) {
        return initializer(Tensors.ofLongs(scope + "/int", new long[0], value));
    }

    public List<NodeProto> nodes() {
        return nodes;
    }

    public List<TensorProto> initializers() {
        return initializers;
    }
}
