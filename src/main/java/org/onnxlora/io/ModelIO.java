package org.onnxlora.io;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashMap;
import java.util.List;
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
 * loaded model is self-contained and can be saved anywhere. Saving writes a
 * temporary file and renames it into place; weights go to a side-car data file when
 * asked, or when the model would pass protobuf's 2 GB limit. Load remembers where each
 * large weight lies in its file ({@link MappedSources}), and save copies weights that
 * are still those views straight from that file inside the kernel, as {@code cp} does.
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

    /**
     * The model as stored: its external data stays a reference to its file, for a rewrite of the graph
     * alone that is saved, or handed to ONNX Runtime, beside that file.
     */
    public static ModelProto loadKeepingExternalData(Path path) {
        return parse(path);
    }

    private static ModelProto parse(Path path) {
        long size;
        try {
            size = Files.size(path);
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO, "model file " + path + " does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read model file " + path + ": " + IoErrors.reason(e), e);
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
            Object fileKey = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            // Through an immutable ByteString: only then may protobuf alias (not copy) bytes fields.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(buf).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            in.setRecursionLimit(1000);
            model = ModelProto.parseFrom(in);
            registerViews(model, buf, path.toAbsolutePath().normalize(), fileKey);
        } catch (InvalidProtocolBufferException e) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    path + " is not an ONNX model or is truncated (" + e.getMessage() + ")", e);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read model file " + path + ": " + IoErrors.reason(e), e);
        }
        if (model.getIrVersion() <= 0 || !model.hasGraph() || model.getOpsetImportCount() == 0) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    path + " is not an ONNX model: it has no " + (model.getIrVersion() <= 0 ? "IR version"
                            : !model.hasGraph() ? "graph" : "opset import"));
        }
        return model;
    }

    /**
     * Records where each large initializer's aliased {@code raw_data} lies in the file, so
     * {@link #save} can copy it in the kernel. Without a file key (no inode to check the
     * path against at save time) the views are simply not registered.
     */
    private static void registerViews(ModelProto model, MappedByteBuffer file, Path path, Object fileKey)
            throws IOException {
        if (fileKey == null) {
            return;
        }
        List<InitializerScanner.Span> spans = InitializerScanner.scan(file);
        List<TensorProto> inits = model.getGraph().getInitializerList();
        if (spans.size() != inits.size()) {
            return; // cannot happen for a file protobuf just parsed; never guess
        }
        for (int i = 0; i < spans.size(); i++) {
            InitializerScanner.Span s = spans.get(i);
            ByteString raw = inits.get(i).getRawData();
            if (s != null && raw.size() == s.length() && raw.size() >= PayloadSink.DIRECT_MIN) {
                MappedSources.register(raw, new MappedSources.Region(path, fileKey, s.offset(), s.length()));
            }
        }
    }

    /** Replaces every external-data reference by an aliased view of the mapped data file. */
    static ModelProto resolveExternalData(ModelProto model, Path baseDir) {
        GraphProto graph = model.getGraph();
        boolean any = graph.getInitializerList().stream()
                .anyMatch(t -> t.getDataLocation() == TensorProto.DataLocation.EXTERNAL);
        if (!any) {
            return model;
        }
        Map<Path, DataFile> channels = new HashMap<>();
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
            for (DataFile d : channels.values()) {
                try {
                    d.channel().close();
                } catch (IOException ignored) {
                    // mapping stays valid after close
                }
            }
        }
    }

    /** An open external-data file and its identity (for {@link MappedSources}). */
    private record DataFile(FileChannel channel, Object fileKey) {}

    private static TensorProto inline(TensorProto t, Path baseDir, Map<Path, DataFile> channels) {
        String location = null;
        long offset = 0;
        long length = -1;
        for (StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> offset = externalNumber(t, e);
                case "length" -> length = externalNumber(t, e);
                default -> { }
            }
        }
        if (location == null || location.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "initializer '" + t.getName() + "' is marked external but names no location");
        }
        Path file = insideFolder(t, baseDir, location);
        try {
            DataFile data = channels.get(file);
            if (data == null) {
                FileChannel opened = FileChannel.open(file, StandardOpenOption.READ);
                data = new DataFile(opened, Files.readAttributes(file, BasicFileAttributes.class).fileKey());
                channels.put(file, data);
            }
            FileChannel ch = data.channel();
            long fileSize = ch.size();
            if (offset > fileSize) {
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "' starts at byte "
                        + offset + " of " + file + ", which has only " + fileSize);
            }
            if (length < 0) {
                length = fileSize - offset;
            }
            if (length > fileSize - offset) { // not offset + length > fileSize: that sum can overflow
                throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "' needs bytes "
                        + offset + ".." + (offset + length) + " of " + file + ", which has only " + fileSize);
            }
            if (length > Integer.MAX_VALUE) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL,
                        "initializer '" + t.getName() + "' is larger than 2 GB");
            }
            // The bytes must be what the dims and dtype say, before anything maps or decodes them.
            Tensors.checkRawLength(t, length);
            ByteString bytes = length == 0 ? ByteString.EMPTY
                    : UnsafeByteOperations.unsafeWrap(ch.map(FileChannel.MapMode.READ_ONLY, offset, length));
            if (data.fileKey() != null && length >= PayloadSink.DIRECT_MIN) {
                MappedSources.register(bytes, new MappedSources.Region(file, data.fileKey(), offset, length));
            }
            return t.toBuilder().clearExternalData().clearDataLocation().setRawData(bytes).build();
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO,
                    "external data file " + file + " of initializer '" + t.getName() + "' does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read external data " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** An external_data offset or length: a non-negative decimal integer, or the model is refused naming the entry. */
    private static long externalNumber(TensorProto t, StringStringEntryProto e) {
        String v = e.getValue().trim();
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException ex) {
            n = -1;
        }
        if (n < 0) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "' has external_data "
                    + e.getKey() + " '" + e.getValue() + "', expected a non-negative integer");
        }
        return n;
    }

    /**
     * The data file {@code location} names, refused unless it lies inside the model's folder after
     * every symbolic link is resolved: a link (or {@code ../}) pointing elsewhere would let a model
     * read, and patch copy out, any file the user can read. ONNX Runtime refuses both forms too.
     */
    private static Path insideFolder(TensorProto t, Path modelDir, String location) {
        Path baseDir = modelDir.normalize();
        Path file;
        try {
            file = baseDir.resolve(location).normalize();
        } catch (InvalidPathException e) { // a NUL or other byte the file system cannot name
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName()
                    + "' names external data '" + location.replaceAll("\\p{Cntrl}", "?") + "', which is not a valid path");
        }
        if (!file.startsWith(baseDir)) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL,
                    "initializer '" + t.getName() + "' points outside the model's folder: " + location);
        }
        Path real;
        Path realBase;
        try {
            realBase = baseDir.toRealPath();
            real = file.toRealPath();
        } catch (NoSuchFileException e) {
            throw new OnnxLoraException(ErrorCode.IO,
                    "external data file " + file + " of initializer '" + t.getName() + "' does not exist");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read external data " + file + ": " + IoErrors.reason(e), e);
        }
        if (!real.startsWith(realBase)) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "': external data "
                    + location + " is a symbolic link to " + real + ", outside the model's folder");
        }
        if (!Files.isRegularFile(real)) {
            throw new OnnxLoraException(ErrorCode.INVALID_MODEL, "initializer '" + t.getName() + "': external data "
                    + location + " is not a regular file");
        }
        return real;
    }

    public static void save(ModelProto model, Path out) {
        save(model, out, ExternalData.AUTO);
    }

    /**
     * Writes {@code model} to {@code out} atomically. With external data the weights
     * go to {@code out + ".data"} (written and renamed first, so a reader never sees
     * a model whose data file is missing or stale). Weights that are unchanged views of
     * a loaded file are copied from that file inside the kernel.
     */
    public static void save(ModelProto model, Path out, ExternalData mode) {
        write(model, out, mode);
    }

    /** {@link #save}, returning how many bytes were written and how many of them were copied in the kernel. */
    static PayloadSink.Stats write(ModelProto model, Path out, ExternalData mode) {
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
                PayloadSink.Stats[] data = new PayloadSink.Stats[1];
                ModelProto withRefs = AtomicFiles.writeChannel(dataFile, ch -> {
                    try (PayloadSink sink = new PayloadSink(ch)) {
                        ModelProto refs = writeExternal(model, dataFile, sink);
                        data[0] = sink.stats();
                        return refs;
                    }
                });
                PayloadSink.Stats proto = writeModel(withRefs, out);
                return new PayloadSink.Stats(data[0].bytes() + proto.bytes(),
                        data[0].copiedInKernel() + proto.copiedInKernel());
            }
            if (weightBytes(model) > PROTOBUF_LIMIT) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT,
                        "model is too large for one protobuf file; save it with external data");
            }
            return writeModel(model, out);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + out + ": " + IoErrors.reason(e), e);
        }
    }

    private static PayloadSink.Stats writeModel(ModelProto model, Path out) throws IOException {
        return AtomicFiles.writeChannel(out, ch -> {
            try (PayloadSink sink = new PayloadSink(ch)) {
                ModelWriter.write(model, sink);
                return sink.stats(); // counts buffered bytes too; close() flushes them

            }
        });
    }

    private static ModelProto writeExternal(ModelProto model, Path dataFile, PayloadSink sink) throws IOException {
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
            sink.buffered().writeRawBytes(pad, 0, (int) (aligned - offset));
            ByteString raw = t.getRawData();
            sink.payload(raw);
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
