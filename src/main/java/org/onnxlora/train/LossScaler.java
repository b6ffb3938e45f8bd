package org.onnxlora.train;

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
 * Dynamic loss scaling for float16 training, as {@code torch.amp.GradScaler} does it: the
 * gradient seed is multiplied by the scale so small gradients survive float16's narrow range,
 * the optimizer divides it out again; a step whose gradients overflowed (a non-finite norm) is
 * skipped and the scale halved, and after {@code growthInterval} good steps in a row it doubles.
 * The state is part of a checkpoint ({@link #FILE}), so a resumed run scales as an uninterrupted one.
 */
public final class LossScaler {
    /** Checkpoint file holding {@link State}. */
    public static final String FILE = "loss_scaler.json";

    /** PyTorch's GradScaler defaults. */
    public record Config(double initialScale, double growthFactor, double backoffFactor, int growthInterval) {
        public static final Config DEFAULT = new Config(65536, 2, 0.5, 2000);

        public Config {
            if (!(initialScale > 0) || !(growthFactor > 1) || !(backoffFactor > 0 && backoffFactor < 1)
                    || growthInterval < 1) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "loss scaling needs a scale > 0, growth > 1,"
                        + " backoff in (0, 1) and an interval >= 1; got " + initialScale + ", " + growthFactor + ", "
                        + backoffFactor + ", " + growthInterval);
            }
        }
    }

    /** The scale, good steps since the last change, and steps skipped so far. */
    public record State(double scale, int goodSteps, long skippedSteps) {}

    private final Config config;
    private State state;
    private boolean lastSkipped;

    public LossScaler(Config config) {
        this.config = config;
        this.state = new State(config.initialScale(), 0, 0);
    }

    public double scale() {
        return state.scale();
    }

    public State state() {
        return state;
    }

    public void restore(State s) {
        this.state = s;
    }

    /** Whether the last {@link #update} skipped its step. */
    public boolean lastSkipped() {
        return lastSkipped;
    }

    /**
     * Records one optimizer step whose (unscaled) gradient norm was {@code gradNorm}; returns
     * whether the step is to be kept (its gradients were finite).
     */
    public boolean update(double gradNorm) {
        lastSkipped = !Double.isFinite(gradNorm);
        if (lastSkipped) {
            state = new State(state.scale() * config.backoffFactor(), 0, state.skippedSteps() + 1);
        } else if (state.goodSteps() + 1 >= config.growthInterval()) {
            state = new State(state.scale() * config.growthFactor(), 0, state.skippedSteps());
        } else {
            state = new State(state.scale(), state.goodSteps() + 1, state.skippedSteps());
        }
        return !lastSkipped;
    }

    /** Writes the state into checkpoint folder {@code dir}. */
    public static void write(Path dir, State s) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("scale", s.scale());
        o.addProperty("good_steps", s.goodSteps());
        o.addProperty("skipped_steps", s.skippedSteps());
        AtomicFiles.writeString(dir.resolve(FILE), o + "\n");
    }

    /** The state saved in checkpoint folder {@code dir}, if it has one (a run without loss scaling has none). */
    public static Optional<State> read(Path dir) {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) {
            return Optional.empty();
        }
        try {
            JsonObject o = JsonParser.parseString(Files.readString(f)).getAsJsonObject();
            State s = new State(o.get("scale").getAsDouble(), o.get("good_steps").getAsInt(),
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
