package org.onnxlora.io;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * The external-data files an ONNX file refers to, without reading them: what a
 * command must not overwrite when the model is its input, and what a model's content
 * hash must cover. A file that does not parse has none (loading it reports why).
 */
public final class ExternalDataFiles {
    private ExternalDataFiles() {}

    /** Each referenced data file once, in order of first reference, resolved against the model's folder. */
    public static List<Path> of(Path model) {
        Set<Path> files = new LinkedHashSet<>();
        for (String location : locations(model)) {
            files.add(model.toAbsolutePath().getParent().resolve(location).normalize());
        }
        return new ArrayList<>(files);
    }

    /** The {@code location} strings, in initializer order (duplicates included). */
    static List<String> locations(Path model) {
        List<String> out = new ArrayList<>();
        try (FileChannel ch = FileChannel.open(model, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size == 0 || size > Integer.MAX_VALUE || !Files.isRegularFile(model)) {
                return out;
            }
            // aliased over the mapping: the weights are not copied, only the small messages are built
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(ch.map(FileChannel.MapMode.READ_ONLY, 0, size))
                    .newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            in.setRecursionLimit(1000);
            ModelProto m = ModelProto.parseFrom(in);
            for (TensorProto t : m.getGraph().getInitializerList()) {
                if (t.getDataLocation() != TensorProto.DataLocation.EXTERNAL) {
                    continue;
                }
                for (StringStringEntryProto e : t.getExternalDataList()) {
                    if (e.getKey().equals("location") && !e.getValue().isEmpty()) {
                        out.add(e.getValue());
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
        return out;
    }
}
