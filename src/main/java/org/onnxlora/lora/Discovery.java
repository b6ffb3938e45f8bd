package org.onnxlora.lora;

import java.util.List;

/**
 * What {@link ProjectionFinder} found in one graph.
 *
 * @param projections attention projections that can be patched, in graph order
 * @param unsupported attention projections recognised by their module path but not patchable, with the reason
 * @param otherLinears other linear layers (fc1, fc2, lm_head): listed, never targeted
 * @param flavor which exporter made the graph
 */
public record Discovery(List<Projection> projections, List<Refusal> unsupported, List<String> otherLinears,
        Flavor flavor) {

    /** A node that looked like a projection but cannot be patched. */
    public record Refusal(String modulePath, String node, String reason) {}

    /** The exporter that wrote the graph, judged from the naming conventions it leaves. */
    public enum Flavor {
        TORCHSCRIPT("torchscript (torch.onnx.export dynamo=False / Optimum)"),
        DYNAMO("dynamo (torch.onnx.export dynamo=True)"),
        ONNX_LORA("onnx-lora (synthetic or rewritten)"),
        UNKNOWN("unknown");

        private final String description;

        Flavor(String description) {
            this.description = description;
        }

        public String description() {
            return description;
        }
    }
}
