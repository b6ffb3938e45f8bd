package org.onnxlora.tensorboard;

import com.google.protobuf.ByteString;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.TensorBoard.Event;
import org.onnxlora.proto.TensorBoard.Summary;
import org.onnxlora.proto.TensorBoard.SummaryMetadata;
import org.onnxlora.proto.TensorBoard.TensorProto;
import org.onnxlora.proto.TensorBoard.TensorShapeProto;

/**
 * One new TensorBoard event file in a folder: {@code events.out.tfevents.<seconds>.<host>.<pid>.<n>},
 * the name TensorBoard looks for. The first event is {@code file_version: "brain.Event:2"};
 * every later one is flushed as it is written, so a killed process leaves all but at most
 * its last record readable (TensorBoard and {@link EventFileReader} stop at a torn tail).
 */
public final class EventWriter implements AutoCloseable {
    public static final String FILE_PREFIX = "events.out.tfevents.";
    public static final String FILE_VERSION = "brain.Event:2";
    private static final int DT_STRING = 7;
    private static final int DATA_CLASS_TENSOR = 2;

    private final Path file;
    private final OutputStream out;
    private final Set<String> textTags = new HashSet<>();

    private EventWriter(Path file, OutputStream out) {
        this.file = file;
        this.out = out;
    }

    /** Creates a new event file in {@code dir} (never reusing a name) and writes its version record. */
    public static EventWriter create(Path dir) {
        try {
            Files.createDirectories(dir);
            String stem = FILE_PREFIX + (System.currentTimeMillis() / 1000) + "." + host() + "." + ProcessHandle.current().pid();
            for (int n = 0; ; n++) {
                Path f = dir.resolve(stem + "." + n);
                try {
                    OutputStream os = new BufferedOutputStream(Files.newOutputStream(f, StandardOpenOption.CREATE_NEW,
                            StandardOpenOption.WRITE));
                    EventWriter w = new EventWriter(f, os);
                    w.write(Event.newBuilder().setWallTime(now()).setFileVersion(FILE_VERSION).build());
                    return w;
                } catch (FileAlreadyExistsException taken) {
                    // a file of this second and process exists (a writer reopened quickly): next number
                }
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot create a TensorBoard event file in " + dir + ": "
                    + e.getMessage(), e);
        }
    }

    public Path file() {
        return file;
    }

    /** One event holding a scalar per tag, at {@code step}. */
    public void scalars(long step, Map<String, Double> values) {
        Summary.Builder s = Summary.newBuilder();
        values.forEach((tag, v) -> s.addValue(Summary.Value.newBuilder().setTag(tag).setSimpleValue(v.floatValue())));
        write(Event.newBuilder().setWallTime(now()).setStep(step).setSummary(s).build());
    }

    /**
     * A text summary (TensorBoard's text plugin renders it as Markdown). The plugin
     * metadata goes with a tag's first value only, as TensorFlow's writers do.
     */
    public void text(long step, String tag, String markdown) {
        Summary.Value.Builder v = Summary.Value.newBuilder().setTag(tag).setTensor(TensorProto.newBuilder()
                .setDtype(DT_STRING)
                .setTensorShape(TensorShapeProto.newBuilder().addDim(TensorShapeProto.Dim.newBuilder().setSize(1)))
                .addStringVal(ByteString.copyFrom(markdown, StandardCharsets.UTF_8)));
        if (textTags.add(tag)) {
            v.setMetadata(SummaryMetadata.newBuilder().setDataClass(DATA_CLASS_TENSOR)
                    .setPluginData(SummaryMetadata.PluginData.newBuilder().setPluginName("text")));
        }
        write(Event.newBuilder().setWallTime(now()).setStep(step).setSummary(Summary.newBuilder().addValue(v)).build());
    }

    void write(Event e) {
        try {
            RecordFraming.write(out, e.toByteArray());
            out.flush();
        } catch (IOException ex) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot append to " + file + ": " + ex.getMessage(), ex);
        }
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException ignored) {
            // every record was flushed when written
        }
    }

    private static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    /** The host name for the file name, without a DNS lookup (which can hang on a badly configured machine). */
    private static String host() {
        String h = System.getenv("HOSTNAME");
        if (h == null || h.isBlank()) {
            try {
                h = Files.readString(Path.of("/etc/hostname")).trim();
            } catch (IOException | RuntimeException e) {
                h = "";
            }
        }
        h = h.replaceAll("[^A-Za-z0-9_-]", "_");
        return h.isEmpty() ? "localhost" : h;
    }
}
