package org.onnxlora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.testing.PackageGraph;

/**
 * The stage order of docs/architecture.md, checked on the sources: every package sits in one
 * stage and names only packages of its own stage or an earlier one; no package cycle; the CLI
 * reaches training, patching and run folders only through the library API ({@code api}).
 * A package that is in no stage fails the check: place it in {@link #STAGES}.
 */
class ArchitectureTest {
    static final String ROOT = "org.onnxlora";

    /** Stages, earliest first; a package may depend on its own stage and earlier ones. */
    static final List<Set<String>> STAGES = List.of(
            Set.of("", "proto"),
            Set.of("io"),
            Set.of("graph", "graph.shape"),
            Set.of("lora", "autodiff", "autodiff.rules", "synth"),
            Set.of("runtime", "runtime.ffm"),
            Set.of("data", "tensorboard", "metrics", "parallel"),
            Set.of("run"),
            Set.of("eval", "generate", "interop", "report"),
            Set.of("train"),
            Set.of("api"),
            Set.of("cli"));

    /**
     * Edges of a known cycle that another change removes (autodiff names its rule set by its
     * qualified name). Each must still exist, so the entry cannot outlive the cycle.
     */
    static final Set<String> KNOWN_CYCLE_EDGES = Set.of();

    /** What cli may name from the library's internals: none of train or run... */
    static final Set<String> CLI_MAY_NOT_USE = Set.of("train", "run");

    /** ...but the values the api returns. */
    static final Set<String> CLI_MAY_USE = Set.of("org.onnxlora.run.RunSummary", "org.onnxlora.train.Precision");

    /**
     * Uses of train/run by cli that are still to move behind the api package, as "File -> class".
     * A ratchet: a new use fails the check, and so does an entry that no longer exists.
     */
    static final Set<String> CLI_NOT_YET_MOVED = Set.of();

    /** The release-17 sources and the Java 22 ones (IO binding through the foreign-function interface). */
    static final List<Path> MAIN = List.of(Path.of("src/main/java"), Path.of("src/main/java22"));

    @Test
    void packagesFollowTheStageOrder() throws IOException {
        assertEquals(List.of(), stageViolations(PackageGraph.read(MAIN, ROOT)));
    }

    @Test
    void noPackageCycle() throws IOException {
        PackageGraph g = PackageGraph.read(MAIN, ROOT);
        for (String e : KNOWN_CYCLE_EDGES) {
            String[] ft = e.split(" -> ");
            assertTrue(g.usesOf(ft[0]).containsKey(ft[1]), e + " no longer exists: remove it from KNOWN_CYCLE_EDGES");
        }
        assertEquals(List.of(), g.cycles(KNOWN_CYCLE_EDGES));
    }

    @Test
    void laterStagesDoNotReachIntoTraining() throws IOException {
        PackageGraph g = PackageGraph.read(MAIN, ROOT);
        for (String p : List.of("data", "eval", "interop", "report", "run", "generate")) {
            assertEquals(List.of(), describe(g.usesOf(ROOT + "." + p).getOrDefault(ROOT + ".train", List.of())),
                    p + " must not import train");
        }
    }

    @Test
    void cliUsesTheLibraryApiOnly() throws IOException {
        List<String> uses = cliViolations(PackageGraph.read(MAIN, ROOT));
        List<String> now = uses.stream().map(u -> u.substring(u.indexOf(": ") + 2))
                .map(u -> Path.of(u.substring(u.indexOf(" in ") + 4)).getFileName() + " -> " + u.substring(0, u.indexOf(" in ")))
                .distinct().sorted().toList();
        assertEquals(List.of(), now.stream().filter(u -> !CLI_NOT_YET_MOVED.contains(u)).toList(),
                "cli reaches into train or run: go through org.onnxlora.api");
        assertEquals(List.of(), CLI_NOT_YET_MOVED.stream().filter(u -> !now.contains(u)).sorted().toList(),
                "moved behind the api: remove from CLI_NOT_YET_MOVED");
    }

    /** The checks find violations: a planted cycle, an upward import, a CLI reaching into train. */
    @Test
    void plantedViolationsAreFound(@TempDir Path tmp) throws IOException {
        write(tmp, "data/Rows.java", "package org.onnxlora.data;\nimport org.onnxlora.train.Trainer;\nclass Rows {}\n");
        write(tmp, "train/Trainer.java", "package org.onnxlora.train;\nimport org.onnxlora.data.Rows;\n"
                + "/** mentions org.onnxlora.cli.Main in a comment only */\nclass Trainer {}\n");
        write(tmp, "cli/TrainCommand.java", "package org.onnxlora.cli;\nclass TrainCommand {\n"
                + "  Object t = new org.onnxlora.train.Trainer();\n  String s = \"org.onnxlora.run.RunDirectory\";\n}\n");
        write(tmp, "mystery/Thing.java", "package org.onnxlora.mystery;\nclass Thing {}\n");
        PackageGraph g = PackageGraph.read(tmp, ROOT);
        assertEquals(List.of(List.of("org.onnxlora.data", "org.onnxlora.train")), g.cycles(Set.of()));
        List<String> stage = stageViolations(g);
        assertTrue(stage.stream().anyMatch(v -> v.startsWith("data -> train")), stage::toString);
        assertTrue(stage.stream().anyMatch(v -> v.contains("mystery is in no stage")), stage::toString);
        assertTrue(stage.stream().noneMatch(v -> v.startsWith("train -> cli")), "a comment is no dependency: " + stage);
        List<String> cli = cliViolations(g);
        assertEquals(List.of("cli -> train: org.onnxlora.train.Trainer in " + tmp.resolve("cli/TrainCommand.java")), cli,
                "a qualified name in code counts, one in a string does not");
    }

    private static void write(Path root, String rel, String text) throws IOException {
        Path f = root.resolve(rel);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
    }

    static List<String> stageViolations(PackageGraph g) {
        List<String> out = new ArrayList<>();
        for (String p : g.packages()) {
            if (stageOf(short_(p)) < 0) {
                out.add(short_(p) + " is in no stage: add it to ArchitectureTest.STAGES");
            }
        }
        for (List<PackageGraph.Use> uses : g.allEdges()) {
            PackageGraph.Use u = uses.get(0);
            int from = stageOf(short_(u.from()));
            int to = stageOf(short_(u.to()));
            if (from >= 0 && to > from) {
                out.add(short_(u.from()) + " -> " + short_(u.to()) + " (a later stage): " + describe(uses));
            }
        }
        return out;
    }

    static List<String> cliViolations(PackageGraph g) {
        List<String> out = new ArrayList<>();
        for (Map.Entry<String, List<PackageGraph.Use>> e : g.usesOf(ROOT + ".cli").entrySet()) {
            if (CLI_MAY_NOT_USE.contains(short_(e.getKey()))) {
                for (PackageGraph.Use u : e.getValue()) {
                    if (CLI_MAY_USE.contains(u.via())) {
                        continue;
                    }
                    out.add("cli -> " + short_(e.getKey()) + ": " + u.via() + " in " + u.file());
                }
            }
        }
        return out;
    }

    private static List<String> describe(List<PackageGraph.Use> uses) {
        return uses.stream().map(u -> u.via() + " in " + u.file().getFileName()).distinct()
                .collect(Collectors.toList());
    }

    private static int stageOf(String shortName) {
        for (int i = 0; i < STAGES.size(); i++) {
            if (STAGES.get(i).contains(shortName)) {
                return i;
            }
        }
        return -1;
    }

    private static String short_(String pkg) {
        return pkg.equals(ROOT) ? "" : pkg.startsWith(ROOT + ".") ? pkg.substring(ROOT.length() + 1) : pkg;
    }
}
