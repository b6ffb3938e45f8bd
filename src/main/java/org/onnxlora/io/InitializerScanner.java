package org.onnxlora.io;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Finds where each top-level initializer's {@code raw_data} lies in a serialized
 * {@code ModelProto}, by walking the wire format once: ModelProto.graph (7) →
 * GraphProto.initializer (5) → TensorProto.raw_data (9). Everything else is skipped
 * by its length, so this reads only tags, not weights.
 *
 * <p>The result is in the order protobuf parses initializers: a {@code graph} field that
 * occurs more than once is merged, its initializers concatenated, and a {@code raw_data}
 * that occurs more than once in one tensor keeps the last occurrence.
 */
final class InitializerScanner {
    private static final int GRAPH = lengthDelimited(ModelProto.GRAPH_FIELD_NUMBER);
    private static final int INITIALIZER = lengthDelimited(GraphProto.INITIALIZER_FIELD_NUMBER);
    private static final int RAW_DATA = lengthDelimited(TensorProto.RAW_DATA_FIELD_NUMBER);

    /** {@code raw_data} of one initializer: {@code length} bytes at {@code offset}; null for a tensor without raw_data. */
    record Span(long offset, long length) {}

    private InitializerScanner() {}

    private static int lengthDelimited(int field) {
        return field << 3 | WireFormat.WIRETYPE_LENGTH_DELIMITED; // WireFormat.makeTag is package-private
    }

    /** One entry per top-level initializer, in parse order; {@code file} is the whole serialized model. */
    static List<Span> scan(ByteBuffer file) throws IOException {
        CodedInputStream in = CodedInputStream.newInstance(file.duplicate());
        in.setSizeLimit(Integer.MAX_VALUE);
        List<Span> spans = new ArrayList<>();
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            if (tag == GRAPH) {
                int limit = in.pushLimit(in.readRawVarint32());
                scanGraph(in, spans);
                in.popLimit(limit);
            } else {
                in.skipField(tag);
            }
        }
        return spans;
    }

    private static void scanGraph(CodedInputStream in, List<Span> spans) throws IOException {
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            if (tag == INITIALIZER) {
                int limit = in.pushLimit(in.readRawVarint32());
                spans.add(scanTensor(in));
                in.popLimit(limit);
            } else {
                in.skipField(tag);
            }
        }
    }

    private static Span scanTensor(CodedInputStream in) throws IOException {
        Span raw = null;
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            if (tag == RAW_DATA) {
                int length = in.readRawVarint32();
                raw = new Span(in.getTotalBytesRead(), length);
                in.skipRawBytes(length);
            } else {
                in.skipField(tag);
            }
        }
        return raw;
    }
}
