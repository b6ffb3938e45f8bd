package org.onnxlora.io;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Writes a {@link ModelProto} as exactly the bytes {@code model.writeTo(...)} would
 * produce, but hands every large initializer's {@code raw_data} to the
 * {@link PayloadSink} as one piece, so weights that are views of the source file are
 * copied file-to-file in the kernel.
 *
 * <p>Why the exact bytes rather than appending weights as extra {@code graph} chunks
 * (which protobuf would merge): any reader sees the very file protobuf-java itself
 * writes, a load → save of an untouched model stays byte-identical, and nothing
 * depends on how other parsers merge repeated messages.
 *
 * <p>How: protobuf-java writes known fields in field-number order, then unknown fields.
 * So a message is the fields numbered below N, then field N, then the fields above N
 * followed by the unknown ones; {@link #below}/{@link #above} build those halves and
 * protobuf writes them. Only the three levels on the way to the weights are split
 * (ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9), and
 * lengths come from protobuf's own {@code getSerializedSize()}.
 */
final class ModelWriter {
    private static final int GRAPH = ModelProto.GRAPH_FIELD_NUMBER;
    private static final int INITIALIZER = GraphProto.INITIALIZER_FIELD_NUMBER;
    private static final int RAW_DATA = TensorProto.RAW_DATA_FIELD_NUMBER;

    private ModelWriter() {}

    static void write(ModelProto model, PayloadSink sink) throws IOException {
        CodedOutputStream out = sink.buffered();
        long start = sink.stats().bytes();
        if (!model.hasGraph() || model.getGraph().getInitializerList().stream().noneMatch(ModelWriter::direct)) {
            model.writeTo(out);
            return;
        }
        GraphProto graph = model.getGraph();
        below(model, GRAPH).writeTo(out);
        out.writeTag(GRAPH, WireFormat.WIRETYPE_LENGTH_DELIMITED);
        out.writeUInt32NoTag(graph.getSerializedSize());
        below(graph, INITIALIZER).writeTo(out);
        for (TensorProto t : graph.getInitializerList()) {
            out.writeTag(INITIALIZER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
            out.writeUInt32NoTag(t.getSerializedSize());
            if (direct(t)) {
                below(t, RAW_DATA).writeTo(out);
                out.writeTag(RAW_DATA, WireFormat.WIRETYPE_LENGTH_DELIMITED);
                out.writeUInt32NoTag(t.getRawData().size());
                sink.payload(t.getRawData());
                above(t, RAW_DATA).writeTo(out);
            } else {
                t.writeTo(out);
            }
        }
        above(graph, INITIALIZER).writeTo(out);
        above(model, GRAPH).writeTo(out);
        long written = sink.stats().bytes() - start;
        if (written != model.getSerializedSize()) { // cheap insurance: the file must be exactly protobuf's
            throw new IllegalStateException("wrote " + written + " bytes for a model of " + model.getSerializedSize());
        }
    }

    private static boolean direct(TensorProto t) {
        return t.hasRawData() && t.getRawData().size() >= PayloadSink.DIRECT_MIN;
    }

    /** The known fields numbered below {@code number}: what protobuf writes before that field. */
    @SuppressWarnings("unchecked")
    static <M extends Message> M below(M message, int number) {
        Message.Builder b = message.toBuilder();
        for (FieldDescriptor f : message.getDescriptorForType().getFields()) {
            if (f.getNumber() >= number) {
                b.clearField(f);
            }
        }
        return (M) b.setUnknownFields(UnknownFieldSet.getDefaultInstance()).build();
    }

    /** The known fields numbered above {@code number} and all unknown fields: what protobuf writes after it. */
    @SuppressWarnings("unchecked")
    static <M extends Message> M above(M message, int number) {
        Message.Builder b = message.toBuilder();
        for (FieldDescriptor f : message.getDescriptorForType().getFields()) {
            if (f.getNumber() <= number) {
                b.clearField(f);
            }
        }
        return (M) b.build();
    }
}
