package org.onnxlora.run;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.io.IoErrors;

/**
 * Taking a run folder for a run: the policy of what may be replaced, what must match,
 * and where a run continues. Held (and with it the folder's {@link RunLock}) for the
 * whole run. The steps are:
 *
 * <ol>
 * <li>{@link #open}: lock the folder, clean what a killed writer left half-made, and
 *     apply the mode. A new run takes an empty folder, or one whose run never saved a
 *     checkpoint (nothing could be resumed from it); replacing takes any run folder and
 *     deletes only its run files; neither takes a folder that holds files of the user's
 *     but no run. Resuming needs a run.json.
 * <li>{@link #begin}: on resume, every recorded setting must match (the first that does
 *     not is named) and the checkpoint to continue from is found and checked.
 * <li>{@link #plan}: with the run's length known, say where it starts, whether it is
 *     already finished, and whether the set-up (artifacts, run model) must be made.
 * </ol>
 *
 * <p>The length may change on resume, down to the checkpoint's step: the learning-rate
 * schedule is a function of the length, so it is recomputed for the new length, and the
 * steps already trained keep the rates they had.
 */
public final class RunStart implements AutoCloseable {
    /** How the caller wants to use the folder. */
    public enum Mode {
        /** Start a run in a new or empty folder. */
        NEW,
        /** Start over, replacing the run files of an existing run. */
        REPLACE,
        /** Continue the run in the folder. */
        RESUME
    }

    /**
     * Where the run stands.
     *
     * @param startStep the last step already done (0 for a new run)
     * @param checkpoint the checkpoint to restore, or null
     * @param finished whether the checkpoint is already at the run's length
     * @param needsSetup whether the artifacts and run model must be (re)made
     */
    public record Plan(long startStep, Path checkpoint, boolean finished, boolean needsSetup) {}

    private final RunDirectory run;
    private final Mode mode;
    private final List<Path> inputs;
    private final RunLock lock;
    private final List<String> notes = new ArrayList<>();
    private RunDirectory.Info recorded;
    private RunSettings settings;
    private Path checkpoint;
    private long checkpointStep;

    private RunStart(RunDirectory run, Mode mode, List<Path> inputs, RunLock lock) {
        this.run = run;
        this.mode = mode;
        this.inputs = inputs;
        this.lock = lock;
    }

    /**
     * Locks {@code dir} for this process and prepares it for {@code mode}. {@code inputs}
     * (model, tokenizer, data: null entries allowed) are never deleted, even if they lie
     * inside the folder.
     */
    public static RunStart open(Path dir, Mode mode, Collection<Path> inputs) {
        List<Path> in = inputs.stream().filter(Objects::nonNull).toList();
        RunDirectory run = RunDirectory.at(dir);
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new OnnxLoraException(ErrorCode.OUTPUT_EXISTS, dir + " is a file, not a run folder; choose a folder");
        }
        if (mode == Mode.RESUME && !Files.isDirectory(dir)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot resume " + dir + ": it does not exist");
        }
        // Refuse a folder of the user's before creating anything in it (even the lock file).
        refuseForeign(run, mode);
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot create " + dir + ": " + IoErrors.reason(e), e);
        }
        RunLock lock = RunLock.acquire(run.lockFile(), dir);
        RunStart start = new RunStart(run, mode, in, lock);
        try {
            start.prepare();
            return start;
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    /**
     * A refusal, not an I/O failure ({@link ErrorCode#OUTPUT_EXISTS}, or a bad argument on resume): the
     * same folder is refused on every try, so a scheduler that retries I/O errors stops at once.
     */
    private static void refuseForeign(RunDirectory run, Mode mode) {
        if (!Files.isDirectory(run.dir()) || run.ownInfo()) {
            return;
        }
        Optional<Path> foreign = run.foreignEntry();
        if (foreign.isEmpty()) {
            return;
        }
        String what = Files.isDirectory(foreign.get()) ? "folder " : "file ";
        throw new OnnxLoraException(mode == Mode.RESUME ? ErrorCode.BAD_ARGUMENT : ErrorCode.OUTPUT_EXISTS, (mode == Mode.RESUME
                ? "cannot resume " + run.dir() + ": it is not a run folder (no run.json) and holds the " + what
                : run.dir() + " is not a run folder and not empty (it holds the " + what) + foreign.get().getFileName()
                + (mode == Mode.RESUME ? "" : ")") + "; only a run folder is ever replaced, choose a new or empty folder");
    }

    private void prepare() {
        int strays = run.cleanStrays();
        if (strays > 0) {
            notes.add("removed " + strays + " temporary file(s) left in " + run.dir() + " by an interrupted run");
        }
        refuseForeign(run, mode); // again, under the lock: another writer may have finished in between
        Optional<RunDirectory.Info> info = run.readInfo();
        boolean anything = run.hasRunFiles();
        switch (mode) {
            case NEW -> {
                if (anything && run.hasCheckpoints()) {
                    throw new OnnxLoraException(ErrorCode.OUTPUT_EXISTS, Setting.RUN_MODE, run.dir()
                            + " already holds a run with checkpoints; resume it to continue it, or replace it");
                }
                if (anything) {
                    notes.add(run.dir() + " holds a run that never saved a checkpoint: starting it over");
                    run.deleteRunFiles(inputs);
                }
            }
            case REPLACE -> {
                if (anything) {
                    notes.add("replacing the run in " + run.dir() + " (other files there are kept)");
                    run.deleteRunFiles(inputs);
                }
            }
            case RESUME -> {
                if (info.isEmpty()) {
                    if (!anything) {
                        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RUN_MODE, "cannot resume "
                                + run.dir() + ": it holds no run yet; start a new run there instead");
                    }
                    if (run.hasCheckpoints()) {
                        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RUN_MODE, "cannot resume "
                                + run.dir() + ": it has checkpoints but no run.json, so its settings cannot be checked;"
                                + " start a new run folder, or replace this one");
                    }
                    notes.add(run.dir() + " holds an interrupted set-up and no run.json: starting the run over");
                    run.deleteRunFiles(inputs);
                } else if (info.get().settings() == null) {
                    throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RUN_MODE, "cannot resume " + run.dir()
                            + ": its run.json was written by an older onnx-lora and records no settings to check;"
                            + " start a new run folder, or replace this one");
                } else {
                    recorded = info.get();
                }
            }
            default -> throw new IllegalStateException(mode.toString());
        }
    }

    /** The settings recorded by the run being resumed (null otherwise): their file hashes can be reused. */
    public RunSettings recorded() {
        return recorded == null ? null : recorded.settings();
    }

    /** Checks {@code current} against the run being resumed and finds its checkpoint. */
    public void begin(RunSettings current) {
        this.settings = current;
        if (recorded == null) {
            return;
        }
        current.firstDifference(recorded.settings()).ifPresent(diff -> {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RUN_MODE, "cannot resume " + run.dir() + ": "
                    + diff + "; resume with the run's settings, start a new run folder, or replace this one");
        });
        Optional<Checkpoint.Found> found = Checkpoint.find(run.dir());
        if (found.isPresent()) {
            if (found.get().warning() != null) {
                notes.add("warning: " + found.get().warning());
            }
            Checkpoint.State state = Checkpoint.readState(found.get().dir());
            if (!state.fingerprint().equals(current.fingerprint())) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot resume " + run.dir() + ": checkpoint "
                        + found.get().dir() + " belongs to another run (its fingerprint is not the one of run.json)");
            }
            checkpoint = found.get().dir();
            checkpointStep = state.step();
        }
    }

    /** Where the run starts, given its length (optimizer steps) and epoch size; records both in run.json. */
    public Plan plan(long totalSteps, long batchesPerEpoch) {
        if (settings == null) {
            throw new IllegalStateException("begin() first");
        }
        if (checkpoint != null && checkpointStep > totalSteps) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot resume " + run.dir() + ": its checkpoint is at step "
                    + checkpointStep + ", past the " + totalSteps + " steps asked for (a run can be extended, or"
                    + " shortened down to its checkpoint)");
        }
        Long was = recorded == null ? null : recorded.steps();
        if (was != null && was != totalSteps && checkpointStep < totalSteps) {
            notes.add("the run's length changes from " + was + " to " + totalSteps + " steps: the learning-rate schedule"
                    + " is recomputed for " + totalSteps + " steps from step " + checkpointStep
                    + " on (the steps already trained keep their rates)");
        }
        boolean needsSetup = recorded == null || !run.setupComplete();
        if (needsSetup && recorded != null) {
            notes.add("the set-up of " + run.dir() + " was interrupted: compiling it again");
            run.deleteSetup(inputs);
        }
        boolean finished = checkpoint != null && checkpointStep == totalSteps;
        run.writeInfo(new RunDirectory.Info(settings, totalSteps, batchesPerEpoch));
        return new Plan(checkpoint == null ? 0 : checkpointStep, checkpoint, finished, needsSetup);
    }

    /** Writes the run's patched Optimum folder whole ({@link RunDirectory#writeModelFolder}), never over an input. */
    public void writeModelFolder(java.util.function.Consumer<Path> write) {
        run.writeModelFolder(write, inputs);
    }

    /** Messages for the user gathered so far (warnings and what was cleaned or replaced); clears them. */
    public List<String> takeNotes() {
        List<String> out = List.copyOf(notes);
        notes.clear();
        return out;
    }

    /** The digest of the run's settings that its checkpoints carry ({@link #begin} first). */
    public String fingerprint() {
        if (settings == null) {
            throw new IllegalStateException("begin() first");
        }
        return settings.fingerprint();
    }

    public RunDirectory directory() {
        return run;
    }

    @Override
    public void close() {
        lock.close();
    }
}
