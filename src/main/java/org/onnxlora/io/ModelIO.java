package org.onnxlora.io;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Reads and writes ONNX models without copying weight bytes.
 *
 * <p>The file is memory-mapped and parsed with protobuf aliasing, so every
 * {@code raw_data} is a view of the mapping: a 1.6 GB model costs page cache, not
 * heap. External data is mapped the same way and attached to its tensor, so a
 * loaded model is self-contained and can be saved anywhere. Saving streams the
 * protobuf to a temporary file and renames it into place; weights go to a
 * side-car data file when asked, or when the model would pass protobuf's 2 GB limit.
 */
public final class ModelIO {
    /** Protobuf messages cannot exceed 2 GiB; keep a margin for the graph itself. */
    static final long PROTOBUF_LIMIT = (1L << 31) - (64L << 20);
    /** Tensors smaller than this stay inline when writing external data (ONNX's own default). */
    static final int EXTERNAL_THRESHOLD = 1024;
    private static final int ALIGNMENT = 4096;

    private ModelIO() {}

    /** How weights are laid out when saving. */
    public enum ExternalData {
        /** External data only when the model would not fit one protobuf. */
        AUTO,
        /** Always write large tensors to {@code <model>.data}. */
        ALWAYS,
        /** Everything inline (fails beyond 2 GB). */
        NEVER
    }

    public static ModelProto load(Path path) {
        ModelProto model = parse(path);
        return resolveExternalData(model, path.toAbsolutePath().getParent());
    }

    private static ModelProto parse(Path path) {
        long size;
        try {
            size = Files.size(path);
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO, "model file " + path + " does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read model file " + path + ": " + e.getMessage(), e);
        }
        if (Files.isDirectory(path)) {
            throw new OnnxLoraException(ErrorCode.IO, path + " is a directory, not an .onnx file");
        }
        if (size == 0) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, path + " is empty, not an ONNX model");
        }
        if (size > Integer.MAX_VALUE) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    path + " is " + size + " bytes; an ONNX protobuf cannot exceed 2 GB (weights belong in external data)");
        }
        ModelProto model;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            // Through an immutable ByteString: only then may protobuf alias (not copy) bytes fields.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(buf).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            in.setRecursionLimit(1000);
            model = ModelProto.parseFrom(in);
        } catch (InvalidProtocolBufferException e) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    path + " is not an ONNX model or is truncated (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read model file " + path + ": " + e.getMessage(), e);
        }
        if (model.getIrVersion() <= 0 || !model.hasGraph() || model.getOpsetImportCount() == 0) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    path + " is not an ONNX model: it has no " + (model.getIrVersion() <= 0 ? "IR version"
                            : !model.hasGraph() ? "graph" : "opset import"));
        }
        return model;
    }

    /** Replaces every external-data reference by an aliased view of the mapped data file. */
    static ModelProto resolveExternalData(ModelProto model, Path baseDir) {
        GraphProto graph = model.getGraph();
        boolean any = graph.getInitializerList().stream()
                .anyMatch(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL);
        if (!any) {
            return model;
        }
        Map<Path, FileChannel> channels = new HashMap<>();
        try {
            GraphProto.Builder g = graph.toBuilder();
            for (int i = 0; i < g.getInitializerCount(); i++) {
                TensorProto t = g.getInitializer(i);
                if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                    g.setInitializer(i, inline(t, baseDir, channels));
                }
            }
            return model.toBuilder().setGraph(g).build();
        } finally {
            for (FileChannel ch : channels.values()) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // mapping stays valid after close
                }
            }
        }
    }

    private static TensorProto inline(TensorProto t, Path baseDir, Map<Path, FileChannel> channels) {
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = Long.parseLong(e.getValue());
                case "length" -> length = Long.parseLong(e.getValue());
                default -> { }
            }
        }
        if (location == null) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "initializer '" + t.getName() + "' is marked external but names no location");
        }
        Path file = baseDir.resolve(location).normalize();
        if (!file.startsWith(baseDir)) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "initializer '" + t.getName() + "' points outside the model's folder: " + location);
        }
        try {
            FileChannel ch = channels.get(file);
            if (ch == null) {
                ch = FileChannel.open(file, StandardOpenOption.READ);
                channels.put(file, ch);
            }
            long fileSize = ch.size();
            if (length < 0) {
                length = fileSize - offset;
            }
            if (offset < 0 || offset + length > fileSize) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "' needs bytes "
                        + offset + ".." + (offset + length) + " of " + file + ", which has only " + fileSize);
            }
            if (length > Integer.MAX_VALUE) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                        "initializer '" + t.getName() + "' is larger than 2 GB");
            }
            ByteString bytes = length == 0 ? ByteString.EMPTY
                    : UnsafeByteOperations.unsafeWrap(ch.map(FileChannel.MapMode.READ_ONLY, offset, length));
            return t.toBuilder().clearExternalData().clearDataLocation().setRawData(bytes).build();
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO,
                    "external data file " + file + " of initializer '" + t.getName() + "' does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read external data " + file + ": " + e.getMessage(), e);
        }
    }

    public static void save(ModelProto model, Path out) {
        save(model, out, ExternalData.AUTO);
    }

    /**
     * Writes {@code model} to {@code out} atomically. With external data the weights
     * go to {@code out + ".data"} (written and renamed first, so a reader never sees
     * a model whose data file is missing or stale).
     */
    public static void save(ModelProto model, Path out, ExternalData mode) {
        boolean external = switch (mode) {
            case ALWAYS -> true;
            case NEVER -> false;
            case AUTO -> weightBytes(model) > PROTOBUF_LIMIT;
        };
        Path dir = out.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            if (external) {
                Path dataFile = out.resolveSibling(out.getFileName() + ".data");
                ModelProto withRefs = AtomicFiles.write(dataFile, os -> writeExternal(model, dataFile, os));
                AtomicFiles.write(out, os -> writeProto(withRefs, os));
            } else {
                if (weightBytes(model) > PROTOBUF_LIMIT) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT,
                            "model is too large for one protobuf file; save it with external data");
                }
                AtomicFiles.write(out, os -> {
                    writeProto(model, os);
                    return null;
                });
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + out + ": " + e.getMessage(), e);
        }
    }

    private static Void writeProto(ModelProto model, OutputStream os) throws IOException {
        CodedOutputStream cos = CodedOutputStream.newInstance(os, 1 << 16);
        model.writeTo(cos);
        cos.flush();
        return null;
    }

    private static ModelProto writeExternal(ModelProto model, Path dataFile, OutputStream os) throws IOException {
        String location = dataFile.getFileName().toString();
        GraphProto.Builder g = model.getGraph().toBuilder();
        long offset = 0;
        byte[] pad = new byte[ALIGNMENT];
        for (int i = 0; i < g.getInitializerCount(); i++) {
            TensorProto t = g.getInitializer(i);
            if (!t.hasRawData() || t.getRawData().size() < EXTERNAL_THRESHOLD) {
                continue;
            }
            long aligned = (offset + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
            os.write(pad, 0, (int) (aligned - offset));
            ByteString raw = t.getRawData();
            raw.writeTo(os);
            offset = aligned + raw.size();
            g.setInitializer(i, t.toBuilder().clearRawData()
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", location))
                    .addExternalData(entry("offset", Long.toString(aligned)))
                    .addExternalData(entry("length", Long.toString(raw.size())))
                    .build());
        }
        return model.toBuilder().setGraph(g).build();
    }

    private static StringStringEntryProto entry(String k, String v) {
        return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    /** Bytes of all initializer payloads, as a long (protobuf's own size is an int and overflows). */
    public static long weightBytes(ModelProto model) {
        long total = 0;
        for (TensorProto t : model.getGraph().getInitializerList()) {
            total += Tensors.byteSize(t);
        }
        return total;
    }
}
