package org.onnxlora.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;
import org.onnxlora.run.RunDescription;

/**
 * Where eval results of a run live: {@code RUN/eval/<name>.json}, one file per evaluated
 * data set, which {@code report} shows. Written atomically like every other output.
 */
public final class EvalAttachment {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    private EvalAttachment() {}

    /** The file for {@code name} in {@code runDir}; the run must exist and the name be a plain file name. */
    public static Path file(Path runDir, String name) {
        if (!RunDescription.isRun(runDir)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, runDir + " is not a run folder (no "
                    + RunDescription.INFO + " or metrics.jsonl): eval results attach only to a run");
        }
        if (!NAME.matcher(name).matches()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "eval name '" + name + "' must be letters, digits,"
                    + " '.', '_' or '-' (it becomes " + RunLoader.EVAL_DIR + "/<name>.json)");
        }
        return runDir.resolve(RunLoader.EVAL_DIR).resolve(name + ".json");
    }

    /** A default name for results on {@code data}: its file name without the extension ("test" for test.jsonl). */
    public static String defaultName(Path data) {
        String n = data.getFileName().toString();
        int dot = n.lastIndexOf('.');
        String stem = dot > 0 ? n.substring(0, dot) : n;
        stem = stem.replaceAll("[^A-Za-z0-9._-]", "_");
        return stem.isEmpty() || !Character.isLetterOrDigit(stem.charAt(0)) ? "eval" + stem : stem;
    }

    public static void write(Path file, String json) {
        try {
            org.onnxlora.io.AtomicFiles.writeString(file, json.endsWith("\n") ? json : json + "\n");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }
}
