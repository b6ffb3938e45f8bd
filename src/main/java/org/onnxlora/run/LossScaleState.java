package org.onnxlora.run;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;

/**
 * Dynamic fp16 loss scaling's state as a checkpoint keeps it ({@code loss_scaler.json}): the scale, the good
 * steps since it last changed, and the steps skipped so far. It lives with the run folder so a resumed run
 * scales exactly as an uninterrupted one; {@code train.LossScaler} updates it.
 */
public record LossScaleState(double scale, int goodSteps, long skippedSteps) {
    public static final String FILE = "loss_scaler.json";

    /** Writes the state into checkpoint folder {@code dir}. */
    public void write(Path dir) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("scale", scale);
        o.addProperty("good_steps", goodSteps);
        o.addProperty("skipped_steps", skippedSteps);
        AtomicFiles.writeString(dir.resolve(FILE), o + "\n");
    }

    /** The state saved in checkpoint folder {@code dir}, if it has one (a run without loss scaling has none). */
    public static Optional<LossScaleState> read(Path dir) {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        try {
            JsonObject o = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
            LossScaleState s = new LossScaleState(o.get("scale").getAsDouble(), o.get("good_steps").getAsInt(),
                    o.get("skipped_steps").getAsLong());
            if (!(s.scale() > 0) || !Double.isFinite(s.scale()) || s.goodSteps() < 0 || s.skippedSteps() < 0) {
                throw new IllegalStateException("scale " + s.scale() + ", good steps " + s.goodSteps()
                        + ", skipped " + s.skippedSteps());
            }
            return Optional.of(s);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + f + ": " + IoErrors.reason(e), e);
        } catch (RuntimeException e) {
            throw new OnnxLoraException(ErrorCode.IO, "checkpoint state " + f + " is damaged: " + e.getMessage(), e);
        }
    }
}
