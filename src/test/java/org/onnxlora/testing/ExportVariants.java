package org.onnxlora.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Export shapes made from the committed TorchScript fixture by rewriting its graph the way the
 * exporters differ, same weights: the ordinary 4-input export (decoder_attention_mask fed where
 * the 3-input export builds a mask of ones), a static-shape export, an extra unknown input.
 */
public final class ExportVariants {
    private ExportVariants() {}

    private static final String ONES = "/model/decoder/ConstantOfShape_output_0";

    /** models/tiny-bart/model.4in.onnx when committed, else the rewrite of model.onnx, made once. */
    public static Path fourInput() {
        Path committed = Fixtures.root().resolve("model.4in.onnx");
        if (Files.isRegularFile(committed)) {
            return committed;
        }
        return cached("model.4in.onnx", () -> fourInput(ModelIO.load(Fixtures.torchscript())));
    }

    /**
     * TorchScript's 3-input BART builds the decoder's padding mask as ConstantOfShape(ones) and casts it;
     * the 4-input export casts the decoder_attention_mask input there instead.
     */
    public static ModelProto fourInput(ModelProto threeInput) {
        GraphProto g = threeInput.getGraph();
        GraphProto.Builder b = g.toBuilder().clearNode();
        boolean rewired = false;
        for (NodeProto n : g.getNodeList()) {
            if (n.getOutputList().contains(ONES)) {
                continue;
            }
            NodeProto.Builder nb = n.toBuilder();
            for (int i = 0; i < n.getInputCount(); i++) {
                if (n.getInput(i).equals(ONES)) {
                    nb.setInput(i, "decoder_attention_mask");
                    rewired = true;
                }
            }
            b.addNode(nb);
        }
        if (!rewired) {
            throw new IllegalStateException("no decoder mask of ones in this graph");
        }
        b.addInput(ValueInfos.tensor("decoder_attention_mask", DataType.INT64_VALUE, "batch_size",
                "decoder_sequence_length"));
        return threeInput.toBuilder().setGraph(b).build();
    }

    /** {@code model} with every input's batch and length fixed (no dynamic_axes). */
    public static ModelProto fixedShapes(ModelProto model, long batch, long sourceLength, long targetLength) {
        GraphProto.Builder b = model.getGraph().toBuilder().clearInput();
        for (ValueInfoProto v : model.getGraph().getInputList()) {
            long len = v.getName().startsWith("decoder") ? targetLength : sourceLength;
            TensorShapeProto.Builder s = TensorShapeProto.newBuilder()
                    .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(batch))
                    .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(len));
            ValueInfoProto.Builder vb = v.toBuilder();
            vb.getTypeBuilder().getTensorTypeBuilder().setShape(s);
            b.addInput(vb);
        }
        return model.toBuilder().setGraph(b).build();
    }

    /** {@code model} with one more required input that nothing feeds. */
    public static ModelProto withExtraInput(ModelProto model, String name) {
        GraphProto.Builder b = model.getGraph().toBuilder()
                .addInput(ValueInfos.tensor(name, DataType.INT64_VALUE, "batch_size", "encoder_sequence_length"));
        return model.toBuilder().setGraph(b).build();
    }

    private interface Maker {
        ModelProto make();
    }

    private static synchronized Path cached(String name, Maker maker) {
        try {
            Path dir = Path.of(System.getProperty("java.io.tmpdir"), "onnx-lora-test-exports-" + ProcessHandle.current().pid());
            Path f = dir.resolve(name);
            if (!Files.exists(f)) {
                Files.createDirectories(dir);
                dir.toFile().deleteOnExit();
                ModelIO.save(maker.make(), f);
                f.toFile().deleteOnExit();
            }
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
