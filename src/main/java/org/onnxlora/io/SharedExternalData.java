package org.onnxlora.io;

import com.google.protobuf.ByteString;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * One external-data file that several models reference, so weights they share are
 * stored once (the training and eval graphs both read the frozen base weights).
 */
public final class SharedExternalData {
    private static final int ALIGNMENT = 4096;

    /** Where one tensor's bytes sit in the data file. */
    public record Ref(long offset, long length) {}

    private final Path file;
    private final Map<String, Ref> refs;

    private SharedExternalData(Path file, Map<String, Ref> refs) {
        this.file = file;
        this.refs = refs;
    }

    /** Writes the raw bytes of {@code tensors} to {@code file} (atomically, page-aligned). */
    public static SharedExternalData write(Path file, Collection<TensorProto> tensors) {
        Map<String, Ref> refs = new LinkedHashMap<>();
        try {
            AtomicFiles.writeChannel(file, ch -> {
                // Frozen weights are usually unchanged views of the loaded model: copied in the kernel.
                try (PayloadSink sink = new PayloadSink(ch)) {
                    long offset = 0;
                    byte[] pad = new byte[ALIGNMENT];
                    for (TensorProto t : tensors) {
                        if (refs.containsKey(t.getName())) {
                            continue;
                        }
                        long aligned = (offset + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
                        sink.buffered().writeRawBytes(pad, 0, (int) (aligned - offset));
                        ByteString raw = t.getRawData();
                        sink.payload(raw);
                        refs.put(t.getName(), new Ref(aligned, raw.size()));
                        offset = aligned + raw.size();
                    }
                    return null;
                }
            });
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + file + ": " + IoErrors.reason(e), e);
        }
        return new SharedExternalData(file, refs);
    }

    /**
     * {@code model} with every initializer stored in this file replaced by a reference
     * to it; {@code modelDir} is where the model will be saved (locations are relative).
     */
    public ModelProto reference(ModelProto model, Path modelDir) {
        String location = modelDir.toAbsolutePath().normalize().relativize(file.toAbsolutePath().normalize()).toString();
        GraphProto.Builder g = model.getGraph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            TensorProto t = g.getInitializer(i);
            Ref r = refs.get(t.getName());
            if (r == null || !t.hasRawData() || t.getRawData().size() != r.length()) {
                continue;
            }
            g.setInitializer(i, t.toBuilder().clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", location))
                    .addExternalData(entry("offset", Long.toString(r.offset())))
                    .addExternalData(entry("length", Long.toString(r.length())))
                    .build());
        }
        return model.toBuilder().setGraph(g).build();
    }

    public Map<String, Ref> refs() {
        return refs;
    }

    private static StringStringEntryProto entry(String k, String v) {
        return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }
}
