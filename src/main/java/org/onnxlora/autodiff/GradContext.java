package org.onnxlora.autodiff;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.GraphIndex;
import org.onnxlora.proto.Onnx.NodeProto;

/**
 * One forward node as a gradient rule sees it, with ORT's gradient-builder
 * vocabulary: {@code I(i)}, {@code O(k)}, {@code GO(k)}, {@code isGradientRequired(i)}.
 */
public final class GradContext {
    private final NodeProto node;
    private final String[] outputGrads;
    private final boolean[] required;
    private final GradEmitter emit;

    public GradContext(NodeProto node, String[] outputGrads, boolean[] required, GradEmitter emit) {
        this.node = node;
        this.outputGrads = outputGrads.clone();
        this.required = required.clone();
        this.emit = emit;
    }

    public NodeProto node() {
        return node;
    }

    /** Name of input {@code i}; empty string for an omitted optional input. */
    public String I(int i) {
        return i < node.getInputCount() ? node.getInput(i) : "";
    }

    public boolean hasInput(int i) {
        return !I(i).isEmpty();
    }

    public int inputCount() {
        return node.getInputCount();
    }

    public String O(int k) {
        return k < node.getOutputCount() ? node.getOutput(k) : "";
    }

    public boolean hasOutput(int k) {
        return !O(k).isEmpty();
    }

    public int outputCount() {
        return node.getOutputCount();
    }

    /** Gradient of output {@code k}, or null where none flows (it is zero). */
    public String GO(int k) {
        return k < outputGrads.length ? outputGrads[k] : null;
    }

    public boolean isGradientRequired(int i) {
        return i < required.length && required[i];
    }

    public GradEmitter emit() {
        return emit;
    }

    public GraphBuilder builder() {
        return emit.builder();
    }

    /** A result array sized to the inputs, for rules to fill. */
    public String[] results() {
        return new String[node.getInputCount()];
    }

    /** The compile error a rule raises when the node uses a form it cannot differentiate. */
    public OnnxLoraException unsupported(String why) {
        return new OnnxLoraException(ErrorCode.COMPILE,
                "cannot differentiate node " + GraphIndex.describe(node) + ": " + why);
    }
}
