package org.onnxlora.graph;

import java.util.HashSet;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * What ONNX Runtime checks when it loads a model, checked before onnx-lora rewrites or writes
 * one: every initializer's payload is exactly its dims × dtype, and every value a node or the
 * graph's outputs read is produced by a node, an initializer or a graph input (subgraphs also
 * see their enclosing scopes). A model failing either would be written out "patched" and then
 * refused by the runtime, so it is refused here, naming the file and the node or tensor.
 */
public final class ModelValidator {
    private ModelValidator() {}

    public static void check(ModelProto model, String file) {
        try {
            checkGraph(model.getGraph(), Set.of(), "graph");
        } catch (OnnxLoraException e) {
            throw new OnnxLoraException(e.code(), file + ": " + e.getMessage(), e);
        }
    }

    private static void checkGraph(GraphProto g, Set<String> outer, String where) {
        Set<String> visible = new HashSet<>(outer);
        for (TensorProto t : g.getInitializerList()) {
            Tensors.checkData(t);
            visible.add(t.getName());
        }
        for (ValueInfoProto v : g.getInputList()) {
            visible.add(v.getName());
        }
        Set<String> produced = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            for (String out : n.getOutputList()) {
                if (!out.isEmpty() && !produced.add(out)) {
                    throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "node " + describe(n) + " writes '" + out
                            + "', which another node of the " + where + " also writes");
                }
            }
        }
        visible.addAll(produced);
        for (NodeProto n : g.getNodeList()) {
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !visible.contains(in)) { // "" is ONNX's "optional input left out"
                    throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "node " + describe(n) + " reads '" + in
                            + "', which no node, initializer or graph input produces");
                }
            }
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) {
                    checkGraph(a.getG(), visible, "subgraph '" + a.getName() + "' of node " + describe(n));
                }
                for (GraphProto sub : a.getGraphsList()) {
                    checkGraph(sub, visible, "subgraph '" + a.getName() + "' of node " + describe(n));
                }
            }
        }
        for (ValueInfoProto v : g.getOutputList()) {
            if (!visible.contains(v.getName())) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, where + " output '" + v.getName()
                        + "' is produced by no node, initializer or input");
            }
        }
    }

    private static String describe(NodeProto n) {
        return "'" + (n.getName().isEmpty() ? "(unnamed)" : n.getName()) + "' (" + n.getOpType() + ")";
    }
}
