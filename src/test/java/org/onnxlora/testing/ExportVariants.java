package org.onnxlora.testing;

import java.nio.file.Path;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * Export shapes of the bundled tiny BART: the committed 4-input exports, and rewrites of a graph's
 * declared inputs (static shapes, an extra input nothing can feed) with the same weights.
 */
public final class ExportVariants {
    private ExportVariants() {}

    /** The ordinary 4-input export of the bundled tiny BART (tools/make_export_matrix.py), same weights as model.onnx. */
    public static Path fourInput() {
        return Fixtures.root().resolve("model.4in.onnx");
    }

    /** The same from the dynamo exporter. */
    public static Path fourInputDynamo() {
        return Fixtures.root().resolve("model.4in.dynamo.onnx");
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
}
