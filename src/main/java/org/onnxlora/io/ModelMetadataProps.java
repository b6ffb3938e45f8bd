package org.onnxlora.io;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;

/**
 * A model's {@code metadata_props} without parsing its graph: the top-level fields are
 * scanned and everything else is skipped, so reading a run's settings from a large
 * model costs a pass over the file and no memory for its weights.
 */
public final class ModelMetadataProps {
    private ModelMetadataProps() {}

    /** A model holding only {@code file}'s metadata_props (for readers such as LoraMetadata). */
    public static ModelProto read(Path file) {
        List<StringStringEntryProto> props = new ArrayList<>();
        int field = ModelProto.METADATA_PROPS_FIELD_NUMBER;
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            CodedInputStream c = CodedInputStream.newInstance(in);
            c.setSizeLimit(Integer.MAX_VALUE);
            while (true) {
                int tag = c.readTag();
                if (tag == 0) {
                    break;
                }
                if (WireFormat.getTagFieldNumber(tag) == field
                        && WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                    props.add(StringStringEntryProto.parseFrom(c.readBytes()));
                } else if (!c.skipField(tag)) {
                    break;
                }
                c.resetSizeCounter();
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, file + " is not a readable ONNX model: " + e.getMessage(), e);
        }
        return ModelProto.newBuilder().addAllMetadataProps(props).build();
    }
}
