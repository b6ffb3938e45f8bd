package org.onnxlora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.Tensors;
import org.onnxlora.lora.BranchFinder;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.TinyGraphs;

/** Each input the fuzz harness found a non-domain exception with, as a plain regression test. */
class FuzzFindingsTest {
    @TempDir
    Path tmp;

    /** onnx-structure: a Mul with no inputs feeding an Add made BranchFinder read input 0 (IOOBE). */
    @Test
    void branchFinderSkipsNodesWithTheWrongNumberOfInputs() {
        int f = TensorProto.DataType.FLOAT_VALUE;
        TinyGraphs t = new TinyGraphs(1).input("x", f, 1, 4);
        t.node("Mul", "mul", List.of(), List.of("m"));
        t.node("Add", "add", List.of("x", "m"), List.of("y"));
        assertTrue(BranchFinder.find(t.output("y", f, 1, 4).model().getGraph()).isEmpty());
        TinyGraphs u = new TinyGraphs(1).input("x", f, 1, 4);
        u.node("Add", "add", List.of("x", "x"), List.of());
        assertTrue(BranchFinder.find(u.model().getGraph()).isEmpty());
    }

    /** Typed payloads shorter than the dims were read past their end (IOOBE) or allocated from the dims (OOM). */
    @Test
    void typedPayloadsAreCheckedAgainstTheDims() {
        TensorProto shortFloats = TensorProto.newBuilder().setName("w").setDataType(1).addDims(4).addFloatData(1f).build();
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Tensors.toDoubles(shortFloats));
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("holds 1 values, expected 4"), e.getMessage());
        TensorProto huge = TensorProto.newBuilder().setName("h").setDataType(1).addDims(1L << 30).addDims(8).build();
        assertThrows(OnnxLoraException.class, () -> Tensors.toFloats(huge)); // no 32 GB allocation first
        TensorProto negative = TensorProto.newBuilder().setName("n").setDataType(1).addDims(-2).build();
        assertThrows(OnnxLoraException.class, () -> Tensors.elementCount(negative));
        TensorProto overflow = TensorProto.newBuilder().setName("o").setDataType(1).addDims(1L << 40).addDims(1L << 40)
                .build();
        assertThrows(OnnxLoraException.class, () -> Tensors.elementCount(overflow));
    }

    /** A malformed safetensors header is reported without Gson's class names or troubleshooting URL. */
    @Test
    void safetensorsHeaderErrorsAreOneCleanLine() throws IOException {
        byte[] json = "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json).putFloat(1f);
        Path p = tmp.resolve("bad.safetensors");
        Files.write(p, b.array());
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> SafetensorsFile.open(p));
        String m = e.getMessage();
        assertTrue(m.startsWith(p + ": header is not valid safetensors JSON"), m);
        assertFalse(m.contains("http") || m.contains("Exception") || m.contains("\n"), m);
    }

    /** Nodes without a name are still named by op in validator messages. */
    @Test
    void unnamedNodesAreDescribed() {
        NodeProto n = NodeProto.newBuilder().setOpType("Relu").addInput("ghost").addOutput("y").build();
        var m = new TinyGraphs(1).model().toBuilder();
        m.getGraphBuilder().addNode(n);
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> org.onnxlora.graph.ModelValidator.check(m.build(), "m.onnx"));
        assertEquals("m.onnx: node '(unnamed)' (Relu) reads 'ghost', which no node, initializer or graph input produces",
                e.getMessage());
    }
}
