package org.onnxlora.runtime;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * One graph input as needed to fabricate a valid value for it.
 *
 * @param name input name
 * @param elemType ONNX element type
 * @param dims per axis: a fixed size (≥ 0), or -1 with {@code dimParams} naming the symbolic dimension
 * @param dimParams symbolic dimension names ("" where fixed or unnamed)
 * @param vocab for token-id inputs: the row count of the embedding they index (0 if not an id input)
 */
public record InputSpec(String name, int elemType, long[] dims, String[] dimParams, long vocab) {

    public boolean isMask() {
        return name.contains("mask");
    }

    public static List<InputSpec> of(GraphProto graph) {
        GraphIndex g = new GraphIndex(graph);
        List<InputSpec> specs = new ArrayList<>();
        for (ValueInfoProto v : graph.getInputList()) {
            if (g.isInitializer(v.getName())) {
                continue; // IR < 4 lists initializers as inputs; they are not fed
            }
            int elem = v.getType().getTensorType().getElemType();
            TensorShapeProto shape = v.getType().getTensorType().getShape();
            long[] dims = new long[shape.getDimCount()];
            String[] params = new String[dims.length];
            for (int i = 0; i < dims.length; i++) {
                TensorShapeProto.Dimension d = shape.getDim(i);
                dims[i] = d.hasDimValue() ? d.getDimValue() : -1;
                params[i] = d.hasDimParam() ? d.getDimParam() : "";
            }
            specs.add(new InputSpec(v.getName(), elem, dims, params, vocabOf(g, v.getName())));
        }
        return specs;
    }

    /** The model's vocabulary: the largest embedding any token-id input indexes; 0 when none is found. */
    public static long modelVocab(GraphProto graph) {
        return of(graph).stream().mapToLong(InputSpec::vocab).max().orElse(0);
    }

    /** Rows of the embedding table a token-id input is gathered from, following casts. */
    private static long vocabOf(GraphIndex g, String value) {
        for (int c : g.consumersOf(value)) {
            if (c < 0) {
                continue;
            }
            NodeProto n = g.node(c);
            if (n.getOpType().equals("Gather") && n.getInputCount() > 1 && n.getInput(1).equals(value)
                    && g.isInitializer(n.getInput(0))) {
                return g.initializer(n.getInput(0)).getDims(0);
            }
            if (n.getOpType().equals("Cast") || n.getOpType().equals("Reshape") || n.getOpType().equals("Identity")) {
                long v = vocabOf(g, n.getOutput(0));
                if (v > 0) {
                    return v;
                }
            }
        }
        return 0;
    }
}
