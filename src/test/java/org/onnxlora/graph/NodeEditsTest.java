package org.onnxlora.graph;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;

class NodeEditsTest {

    private static NodeProto node(String name) {
        return NodeProto.newBuilder().setName(name).setOpType("Identity").addInput("x").addOutput(name + "_out").build();
    }

    private static List<String> names(GraphProto g) {
        return g.getNodeList().stream().map(NodeProto::getName).toList();
    }

    @Test
    void replacementsTakeTheirNodesPlaceAndRemovalsGo() {
        GraphProto g = GraphProto.newBuilder().setName("g").addNode(node("a")).addNode(node("b")).addNode(node("c"))
                .addNode(node("d")).addInitializer(TensorProto.newBuilder().setName("w")).build();
        NodeEdits edits = new NodeEdits();
        assertTrue(edits.isEmpty());
        edits.replace(1, List.of(node("b1"), node("b2")));
        edits.remove(2);
        edits.remove(1); // a replaced node stays replaced
        GraphProto out = edits.applyTo(new GraphIndex(g), g).build();
        assertEquals(List.of("a", "b1", "b2", "d"), names(out));
        assertEquals("w", out.getInitializer(0).getName(), "everything but the nodes is kept");
    }
}
