package org.onnxlora.train;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.shape.SymbolicShapes;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * The dims the training runner feeds, stated to shape inference: every batch
 * tensor is {@code [batch, source_length]} (encoder side) or
 * {@code [batch, target_length]} (decoder side and labels). Exports do not say
 * so themselves — the dynamo exporter names attention_mask's batch dim apart from
 * input_ids' — yet gradient rules can only skip a reduction between two dims
 * known to be equal.
 */
final class BatchDims {
    static final String BATCH = "batch";
    static final String SOURCE = "source_length";
    static final String TARGET = "target_length";

    private static final Map<String, List<String>> CONTRACT = Map.of(
            "input_ids", List.of(BATCH, SOURCE),
            "attention_mask", List.of(BATCH, SOURCE),
            "decoder_input_ids", List.of(BATCH, TARGET),
            "decoder_attention_mask", List.of(BATCH, TARGET),
            TrainingCompiler.LABELS, List.of(BATCH, TARGET));

    private BatchDims() {}

    /** Shapes of a training forward graph whose batch inputs follow the runner's contract. */
    static SymbolicShapes infer(GraphProto forward) {
        Map<String, List<String>> dims = new HashMap<>();
        for (ValueInfoProto in : forward.getInputList()) {
            List<String> d = CONTRACT.get(in.getName());
            if (d != null) {
                dims.put(in.getName(), d);
            }
        }
        return SymbolicShapes.infer(forward, dims);
    }
}
