package org.onnxlora.tensorboard;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;
import org.onnxlora.proto.TensorBoard.Event;

/**
 * A folder of event files that follows a resumable run. TensorBoard shows every file in
 * the folder, so a run continued from step N must not leave the steps after N that the
 * killed process logged: those are redone. Continuing at N rewrites the older files
 * without them (and without a torn last record) and starts a new file; starting at 0
 * removes the old files, which describe a run that is being replaced.
 */
public final class EventFolder {
    private EventFolder() {}

    /** Prepares {@code dir} for a run that continues after {@code step} and opens its new file. */
    public static EventWriter continueAfter(Path dir, long step) {
        for (Path f : EventFileReader.files(dir)) {
            try {
                if (step == 0) {
                    Files.delete(f);
                } else {
                    prune(f, step);
                }
            } catch (IOException e) {
                throw new OnnxLoraException(ErrorCode.IO, "cannot rewrite " + f + ": " + IoErrors.reason(e), e);
            }
        }
        return EventWriter.create(dir);
    }

    /** Drops the events after {@code step}; a file left with nothing but its version record goes. */
    private static void prune(Path f, long step) throws IOException {
        EventFileReader.Contents c;
        try {
            c = EventFileReader.read(f);
        } catch (OnnxLoraException damaged) {
            return; // not ours to repair: TensorBoard skips what it cannot read
        }
        List<Event> keep = c.events().stream().filter(e -> e.getStep() <= step).toList();
        if (keep.stream().noneMatch(e -> e.hasSummary())) {
            Files.delete(f);
        } else if (keep.size() < c.events().size() || c.tornTail()) {
            AtomicFiles.write(f, out -> {
                for (Event e : keep) {
                    RecordFraming.write(out, e.toByteArray());
                }
                return null;
            });
        }
    }
}
