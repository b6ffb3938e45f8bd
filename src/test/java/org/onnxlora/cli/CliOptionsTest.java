package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.onnxlora.cli.CliTest.assertOneLineError;
import static org.onnxlora.cli.CliTest.run;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.testing.Fixtures;

/** Flags as a user mistypes them: a bad value, a misspelt name, --version. */
class CliOptionsTest {
    @TempDir
    Path tmp;

    static final String MODEL = Fixtures.torchscript().toString();
    static final String TOKENIZER = Fixtures.tokenizer().toString();
    static final String DATA = "models/datasets/manpages/valid.jsonl";

    /** A train command line that would run one step, plus {@code extra}. */
    static String[] train(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("train", "--model", MODEL, "--tokenizer", TOKENIZER, "--train", DATA,
                "--out", out.toString()));
        a.addAll(List.of(extra));
        if (!a.contains("--steps") && !a.contains("--epochs")) {
            a.addAll(List.of("--steps", "1"));
        }
        return a.toArray(String[]::new);
    }

    /** (flag at fault, the value given, the rest of the command line), all refused with exit 2. */
    static Stream<Arguments> badValues() {
        return Stream.of(
                // train: loss and optimizer
                Arguments.of("--label-smoothing", "NaN", "train"),
                Arguments.of("--label-smoothing", "1", "train"),
                Arguments.of("--label-smoothing", "-0.1", "train"),
                Arguments.of("--max-grad-norm", "-1", "train"),
                Arguments.of("--max-grad-norm", "NaN", "train"),
                Arguments.of("--weight-decay", "NaN", "train"),
                Arguments.of("--weight-decay", "-1", "train"),
                Arguments.of("--adam-eps", "Infinity", "train"),
                Arguments.of("--adam-eps", "0", "train"),
                Arguments.of("--adam-betas", "0.9,NaN", "train"),
                Arguments.of("--adam-betas", "0.9", "train"),
                // train: the loop
                Arguments.of("--threads", "-4", "train"),
                Arguments.of("--keep-checkpoints", "-1", "train"),
                Arguments.of("--batch-size", "0", "train"),
                Arguments.of("--grad-accum", "0", "train"),
                Arguments.of("--grad-accum", "-1", "train"),
                Arguments.of("--steps", "0", "train"),
                Arguments.of("--steps", "-5", "train"),
                Arguments.of("--epochs", "0", "train"),
                Arguments.of("--epochs", "NaN", "train"),
                Arguments.of("--epochs", "-1", "train"),
                Arguments.of("--lr", "0", "train"),
                Arguments.of("--lr", "NaN", "train"),
                Arguments.of("--lr", "Infinity", "train"),
                Arguments.of("--warmup", "-1", "train"),
                Arguments.of("--eval-every", "-1", "train"),
                Arguments.of("--save-every", "-1", "train"),
                Arguments.of("--schedule", "sawtooth", "train"),
                // other commands
                Arguments.of("--tolerance", "-1", "verify"),
                Arguments.of("--tolerance", "NaN", "verify"),
                Arguments.of("--samples", "0", "verify"),
                Arguments.of("--batch", "0", "bench-train"),
                Arguments.of("--steps", "0", "bench-train"),
                Arguments.of("--warmup", "-1", "bench-train"),
                Arguments.of("--source-length", "0", "bench-train"),
                Arguments.of("--target-length", "0", "bench-train"),
                Arguments.of("--threads", "-2", "bench-train"),
                Arguments.of("--label-smoothing", "NaN", "bench-train"),
                Arguments.of("--max-grad-norm", "-1", "compile"),
                Arguments.of("--batch-size", "0", "generate"),
                Arguments.of("--threads", "-1", "generate"),
                Arguments.of("--batch-size", "0", "eval"),
                Arguments.of("--threads", "-1", "eval"),
                Arguments.of("--steps", "0", "demo"),
                Arguments.of("--threads", "-1", "demo"),
                Arguments.of("--name", "../escape", "export-adapter"),
                Arguments.of("--name", "", "export-adapter"),
                Arguments.of("--rank", "0", "patch"),
                Arguments.of("--alpha", "NaN", "patch"));
    }

    @ParameterizedTest(name = "{2} {0} {1}")
    @MethodSource("badValues")
    void aBadValueIsOneLineNamingTheFlag(String flag, String value, String command) {
        Path out = tmp.resolve("out");
        String[] args = switch (command) {
            case "train" -> train(out, flag, value);
            case "verify" -> new String[] {"verify", "--a", MODEL, "--b", MODEL, flag, value};
            case "bench-train" -> new String[] {"bench-train", "--model", MODEL, flag, value};
            case "compile" -> new String[] {"compile", "--model", MODEL, "--out", out.toString(), flag, value};
            case "generate" -> new String[] {"generate", "--model", MODEL, "--tokenizer", TOKENIZER, "--input", DATA,
                "--out", out.toString(), flag, value};
            case "eval" -> new String[] {"eval", "--model", MODEL, "--tokenizer", TOKENIZER, "--data", DATA, flag, value};
            case "demo" -> new String[] {"demo", "--work", out.toString(), flag, value};
            case "export-adapter" -> new String[] {"export-adapter", "--adapter", MODEL, "--format", "peft",
                "--out", out.toString(), flag, value};
            case "patch" -> new String[] {"patch", "--model", MODEL, "--out", out.toString(), flag, value};
            default -> throw new IllegalArgumentException(command);
        };
        CliTest.Run r = run(args);
        assertOneLineError(r, 2, flag);
        assertFalse(r.err().contains("Exception"), r.err());
        assertFalse(Files.exists(out), "the command did work before refusing " + flag);
    }

    @Test
    void dataSettingsAreCheckedBeforeTheRunFolderExists() {
        Path out = tmp.resolve("run");
        assertOneLineError(run(train(out, "--max-target-length", "0")), 2, "maximum target length", "got 0");
        assertOneLineError(run(train(out, "--max-source-length", "-1")), 2, "maximum source length", "got -1");
        assertOneLineError(run(train(out, "--decoder-start-token-id", "-1")), 2, "decoder start token id", "got -1");
        assertOneLineError(run(train(out, "--format", "xml")), 2, "xml");
        assertFalse(Files.exists(out));
        assertOneLineError(run("eval", "--model", MODEL, "--tokenizer", TOKENIZER, "--data", DATA,
                "--max-source-length", "0"), 2, "maximum source length");
        assertOneLineError(run("generate", "--model", MODEL, "--tokenizer", TOKENIZER, "--input", DATA,
                "--out", out.toString(), "--max-source-length", "0"), 2, "--max-source-length");
        assertFalse(Files.exists(out));
    }

    @Test
    void versionIsTheBuildsOnEveryCommand() {
        CliTest.Run top = run("--version");
        assertEquals(0, top.code(), top.err());
        String line = top.out().strip();
        assertTrue(line.matches("onnx-lora \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?, ONNX Runtime .+"), line);
        for (String command : Main.commandLine().getSubcommands().keySet()) {
            if (command.equals("help")) {
                continue;
            }
            CliTest.Run r = run(command, "--version");
            assertEquals(0, r.code(), command + ": " + r.err());
            assertEquals(line, r.out().strip(), command + " --version");
        }
    }

    @Test
    void mistypedCommandsAndOptionsGetSuggestions() {
        assertOneLineError(run("pach"), 2, "Unknown command: 'pach'", "did you mean patch?");
        assertOneLineError(run("merg", "--model", MODEL), 2, "did you mean merge?");
        assertOneLineError(run("patch", "--model", MODEL, "--out", "x.onnx", "--rnak", "4"), 2,
                "Unknown option: '--rnak'", "did you mean --rank?");
        assertOneLineError(run("train", "--lables-smoothing", "0.1"), 2, "did you mean --label-smoothing?");
        assertOneLineError(run("train", "--lr=3", "--tokenizr", "t.json"), 2, "did you mean --tokenizer?");
        // a typo of a required option is reported as the typo, not as the option missing
        CliTest.Run r = run("patch", "--modle", MODEL, "--out", "x.onnx");
        assertOneLineError(r, 2, "'--modle'", "did you mean --model?");
        assertFalse(r.err().contains("Missing required"), r.err());
        // nothing close: no guess
        CliTest.Run far = run("xyzzy");
        assertOneLineError(far, 2, "Unknown command: 'xyzzy'");
        assertFalse(far.err().contains("did you mean"), far.err());
    }

    @Test
    void suggestionsRankByEditDistance() {
        assertEquals(1, Suggestions.distance("--rnak", "--rank"));
        assertEquals(List.of("--rank"), Suggestions.closest("--rnak", List.of("--alpha", "--rank", "--target")));
        assertEquals(List.of(), Suggestions.closest("--zzzzzz", List.of("--alpha", "--rank")));
    }
}
