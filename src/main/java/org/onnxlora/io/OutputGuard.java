package org.onnxlora.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * Refuses outputs that would destroy something the user owns. {@code force} means
 * "replace my output", never "replace my input": no output may be an input, hold one,
 * or be one of the files an input consists of (a model's external data, any file of an
 * input folder). Identity is the file system's (real paths, {@link Files#isSameFile}),
 * so symbolic and hard links to an input count as the input.
 */
public final class OutputGuard {
    private static final String CHOOSE = "choose another output path";
    private static final String MOVE = "so it cannot be deleted: copy it elsewhere first";

    private OutputGuard() {}

    /** What a command writes at its output path. */
    public enum Kind {
        /** One file. */
        FILE,
        /** An ONNX file; with external data its weights also go to {@code out + ".data"}. */
        MODEL,
        /** A folder that files are written into. */
        FOLDER
    }

    /** A file an input consists of; {@code input} is the path the caller named, {@code part} how it belongs to it. */
    private record Guarded(Path real, Path given, Path input, String part) {
        String describe(Path target) {
            return switch (part) {
                case "self" -> target.equals(given) ? "the input itself" : "the input " + given + " (the same file)";
                case "folder" -> "the input folder " + given;
                default -> (target.equals(given) ? "" : given + ", ") + part + " " + input;
            };
        }
    }

    /**
     * {@link #check(Path, Kind, boolean, Collection)} with the kind taken from the path:
     * an existing folder is a folder output, a {@code .onnx} name a model, anything else a file.
     */
    public static void check(Path out, boolean force, Path... inputs) {
        Kind kind = Files.isDirectory(out) ? Kind.FOLDER
                : out.getFileName() != null && out.getFileName().toString().endsWith(".onnx") ? Kind.MODEL : Kind.FILE;
        check(out, kind, force, Arrays.asList(inputs));
    }

    /**
     * {@code out} must not be, contain, or overwrite any input (null entries are skipped),
     * must be of the right kind if it exists, and must not exist unless {@code force}; a
     * folder output counts as existing when it is non-empty.
     */
    public static void check(Path given, Kind kind, boolean force, Collection<Path> inputs) {
        Path out = effective(given);
        List<Guarded> guarded = guard(inputs);
        if (Files.exists(out)) {
            boolean dir = Files.isDirectory(out);
            if (kind == Kind.FOLDER && !dir) {
                throw new OnnxLoraException(ErrorCode.OUTPUT_EXISTS, out + " is a file, not a folder; choose a folder for the output");
            }
            if (kind != Kind.FOLDER && dir) {
                throw new OnnxLoraException(ErrorCode.OUTPUT_EXISTS, out + " is a folder; the output is a file, give its name");
            }
        }
        if (kind == Kind.FOLDER) {
            refuseContaining(out, guarded, "written into", CHOOSE);
        } else {
            refuseOverwriting(out, guarded, CHOOSE);
            if (kind == Kind.MODEL) {
                refuseOverwriting(out.resolveSibling(out.getFileName() + ".data"), guarded, CHOOSE);
            }
        }
        if (Files.exists(out) && !force && !(Files.isDirectory(out) && isEmpty(out))) {
            throw new OnnxLoraException(ErrorCode.OUTPUT_EXISTS, Setting.OVERWRITE, out + " already exists");
        }
    }

    /** Each of {@code doomed} (files or folders about to be deleted or replaced) must not be or hold an input. */
    public static void checkDeletable(Collection<Path> doomed, Collection<Path> inputs) {
        List<Guarded> guarded = guard(inputs);
        for (Path d : doomed.stream().map(OutputGuard::effective).toList()) {
            if (Files.isDirectory(d)) {
                refuseContaining(d, guarded, "deleted", MOVE);
            } else {
                refuseOverwriting(d, guarded, MOVE);
            }
        }
    }

    private static void refuseOverwriting(Path target, List<Guarded> guarded, String advice) {
        if (!Files.exists(target)) {
            return; // nothing there to lose (a dangling link is replaced, not followed)
        }
        for (Guarded g : guarded) {
            if (same(target, g.real())) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, target + " is " + g.describe(target)
                        + "; onnx-lora never modifies its inputs, " + advice);
            }
        }
    }

    private static void refuseContaining(Path folder, List<Guarded> guarded, String verb, String advice) {
        if (!Files.isDirectory(folder)) {
            return;
        }
        Path real = real(folder);
        for (Guarded g : guarded) {
            if (g.real().startsWith(real)) {
                String what = g.part().equals("self") || g.part().equals("folder") ? "the input " + g.given()
                        : g.given() + " (" + g.part() + " " + g.input() + ")";
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, folder + (g.real().equals(real) ? " is " : " holds ")
                        + what + ", which would be " + verb + "; onnx-lora never modifies its inputs, " + advice);
            }
        }
    }

    /** The existing files (and folders) the inputs consist of. */
    private static List<Guarded> guard(Collection<Path> inputs) {
        List<Guarded> out = new ArrayList<>();
        for (Path in : inputs.stream().filter(Objects::nonNull).toList()) {
            if (!Files.exists(in)) {
                continue; // an input that does not exist cannot be lost; reading it will fail clearly
            }
            out.add(new Guarded(real(in), in, in, Files.isDirectory(in) ? "folder" : "self"));
            if (Files.isDirectory(in)) {
                try (Stream<Path> s = Files.walk(in)) {
                    s.filter(p -> !p.equals(in)).forEach(p -> {
                        out.add(new Guarded(real(p), p, in, "part of the input folder"));
                        addExternalData(p, out);
                    });
                } catch (IOException | java.io.UncheckedIOException e) {
                    throw new OnnxLoraException(ErrorCode.IO, "cannot list the input folder " + in + ": " + IoErrors.reason(e), e);
                }
            } else {
                addExternalData(in, out);
            }
        }
        return out;
    }

    private static void addExternalData(Path file, List<Guarded> out) {
        if (!Files.isRegularFile(file) || !file.getFileName().toString().endsWith(".onnx")) {
            return;
        }
        for (Path data : ExternalDataFiles.of(file)) {
            if (Files.exists(data)) {
                out.add(new Guarded(real(data), data, file, "the external data of the input"));
            }
        }
    }

    /**
     * The path a writer will reach: {@code a/missing/../b} does not exist for the file
     * system, but creating the missing folder and writing makes it {@code a/b}.
     */
    private static Path effective(Path p) {
        return Files.exists(p) ? p : p.toAbsolutePath().normalize();
    }

    private static boolean same(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return real(a).equals(b);
        }
    }

    private static boolean isEmpty(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    private static Path real(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }
}
