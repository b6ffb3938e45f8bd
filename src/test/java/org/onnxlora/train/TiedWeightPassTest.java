package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.onnxlora.graph.PassResult;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.testing.Fixtures;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.testing.TinyGraphs;

/**
 * A weight stored a second time as the transpose of another (the TorchScript exporter's folded lm_head)
 * is dropped, its products reading the other one transposed.
 */
class TiedWeightPassTest {
    static final int F = DataType.FLOAT_VALUE;
    static final int VOCAB = 160; // bf16 at 20 KiB: above the size the pass looks at
    static final int D = 64;

    /** embedding [VOCAB, D], read by a Gather and, as its stored transpose, by the head's product. */
    private static TinyGraphs tied(boolean exact, int type) {
        TinyGraphs t = new TinyGraphs(3).input("x", F, 2, D);
        t.init(TensorProto.newBuilder().setName("ids").setDataType(DataType.INT64_VALUE).addDims(2)
                .addInt64Data(1).addInt64Data(VOCAB - 1).build());
        TensorProto e = t.random("shared", F, VOCAB, D);
        double[] ev = Tensors.toDoubles(e);
        double[] head = new double[VOCAB * D];
        for (int i = 0; i < VOCAB; i++) {
            for (int j = 0; j < D; j++) {
                head[j * VOCAB + i] = ev[i * D + j];
            }
        }
        if (!exact) {
            head[D * VOCAB - 1] += 1e-3; // the last element: a copy that differs must be found to the end
        }
        t.init(Tensors.ofDoubles("shared", new long[] {VOCAB, D}, ev, type));
        t.init(Tensors.ofDoubles("head", new long[] {D, VOCAB}, head, type));
        List<String> xin = List.of("x");
        if (type != F) {
            t.node("Cast", "/cast", xin, List.of("xh"), org.onnxlora.graph.Attrs.i("to", type));
            xin = List.of("xh");
        }
        t.node("MatMul", "/lm_head/MatMul", List.of(xin.get(0), "head"), List.of(type == F ? "y" : "yh"));
        if (type != F) {
            t.node("Cast", "/uncast", List.of("yh"), List.of("y"), org.onnxlora.graph.Attrs.i("to", F));
        }
        t.node("Gather", "/embed", List.of("shared", "ids"), List.of("emb"));
        return t.output("y", F, 2, VOCAB).output("emb", type, 2, D);
    }

    private static float[] x() {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[2 * D];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @Test
    void theStoredTransposeIsDroppedAndTheProductReadsTheOtherWeight() throws Exception {
        ModelProto m = tied(true, F).model();
        PassResult<GraphProto> r = new TiedWeightPass().apply(m.getGraph());
        assertEquals(List.of("head = sharedᵀ"), r.changed());
        GraphProto g = r.output();
        assertEquals(List.of("ids", "shared"), g.getInitializerList().stream().map(TensorProto::getName).sorted().toList());
        NodeProto head = g.getNodeList().stream().filter(n -> n.getName().equals("/lm_head/MatMul")).findFirst()
                .orElseThrow();
        assertEquals("FusedMatMul", head.getOpType());
        assertEquals(List.of("x", "shared"), head.getInputList());
        assertEquals(1, org.onnxlora.graph.Attrs.getInt(head, "transB", 0));
        ModelProto after = PassOrt.withMsDomain(m.toBuilder().setGraph(g).build());
        float d = PassOrt.maxAbs(PassOrt.run(m, "x", x(), new long[] {2, D}, "y"),
                PassOrt.run(after, "x", x(), new long[] {2, D}, "y"));
        assertTrue(d <= 1e-6, "the head's product differs by " + d);
    }

    @Test
    void halfPrecisionWeightsAreComparedAsTheirOwnBits() {
        PassResult<GraphProto> r = new TiedWeightPass().apply(tied(true, DataType.BFLOAT16_VALUE).model().getGraph());
        assertEquals(List.of("head = sharedᵀ"), r.changed());
    }

    @Test
    void aCopyThatDiffersInOneElementStays() {
        GraphProto g = tied(false, F).model().getGraph();
        PassResult<GraphProto> r = new TiedWeightPass().apply(g);
        assertEquals(List.of(), r.changed());
        assertSame(g, r.output());
    }

    @Test
    void aTransposeThatAnotherOpReadsStays() {
        TinyGraphs t = tied(true, F);
        t.node("Identity", "/copy", List.of("head"), List.of("z")).output("z", F, D, VOCAB);
        GraphProto g = t.model().getGraph();
        assertEquals(List.of(), new TiedWeightPass().apply(g).changed());
    }

    @Test
    void theTinyExportsFoldedLmHeadIsStoredOnceInTheTrainingGraph() {
        LoraConfig cfg = new LoraConfig(8, 16, List.of("q_proj", "v_proj"), LoraConfig.Init.KAIMING, 0);
        ModelProto patched = new PatchPass(ModelFamily.bart()).patch(ModelIO.load(Fixtures.torchscript()), null, cfg,
                new AdapterInit(cfg.init(), 0));
        TrainingCompiler.Artifacts a = new TrainingCompiler().compile(patched, TrainingCompiler.Options.defaults());
        long before = patched.getGraph().getInitializerList().stream()
                .filter(t -> t.getDimsCount() == 2 && t.getDims(0) * t.getDims(1) == 64L * 2048).count();
        long after = a.training().getGraph().getInitializerList().stream()
                .filter(t -> t.getDimsCount() == 2 && t.getDims(0) * t.getDims(1) == 64L * 2048).count();
        assertEquals(2, before, "the fixture's export stores the tied lm_head a second time");
        assertEquals(1, after);
        assertFalse(a.eval().getGraph().getInitializerList().stream()
                .anyMatch(t -> t.getDimsCount() == 2 && t.getDims(0) == 64 && t.getDims(1) == 2048));
    }
}
