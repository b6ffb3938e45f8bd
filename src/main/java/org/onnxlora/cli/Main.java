package org.onnxlora.cli;

import java.io.PrintWriter;
import org.onnxlora.OnnxLoraException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code onnx-lora} command line. The only place that maps errors to exit codes. */
@Command(name = "onnx-lora",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = {
            "LoRA fine-tuning for BART ONNX exports on stock ONNX Runtime.",
            "",
            "Typical flow:",
            "  onnx-lora inspect --model model.onnx",
            "  onnx-lora patch   --model model.onnx --out patched.onnx --rank 8 --alpha 16 --target q_proj,v_proj",
            "  onnx-lora verify  --a model.onnx --b patched.onnx",
            "  onnx-lora train   --model model.onnx --tokenizer tokenizer.json --train train.jsonl --out run --epochs 1",
            "  onnx-lora merge   --model run/model.onnx --adapter run --out merged.onnx",
            "  onnx-lora eval    --model merged.onnx --tokenizer tokenizer.json --data test.jsonl",
            "  onnx-lora report  run --out report.html",
            "  onnx-lora export-adapter --adapter RUN --format peft --out peft-adapter",
            ""},
        subcommands = {
            InspectCommand.class,
            PatchCommand.class,
            MergeCommand.class,
            ExportAdapterCommand.class,
            CompileCommand.class,
            TrainCommand.class,
            EvalCommand.class,
            ReportCommand.class,
            GenerateCommand.class,
            BenchTrainCommand.class,
            VerifyCommand.class,
            DemoCommand.class,
            SynthCommand.class,
            CommandLine.HelpCommand.class
        },
        footer = {"", "Exit codes: 0 ok, 2 bad arguments, 3 I/O, 4 invalid model, 5 unsupported model,",
            "6 target mismatch, 7 compile error, 8 runtime error, 9 verification failed, 10 diverged, 11 bad data."})
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (tests call this instead of main). */
    public static int run(String... args) {
        return commandLine().execute(args);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler(Main::onError);
        cl.setParameterExceptionHandler(Main::onBadParameters);
        cl.setUsageHelpWidth(110); // the descriptions are written for ~105 columns; 80 would re-wrap every line
        giveVersion(cl);
        return cl;
    }

    /** Every subcommand's --version prints the tool's version (picocli's default prints nothing). */
    private static void giveVersion(CommandLine cl) {
        for (CommandLine sub : cl.getSubcommands().values()) {
            sub.getCommandSpec().versionProvider(new Version());
            giveVersion(sub);
        }
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    private static int onError(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        if (e instanceof OnnxLoraException ole) {
            err.println("onnx-lora: error: " + SettingFlags.describe(ole));
            if (Boolean.getBoolean("onnxlora.stacktrace")) {
                ole.printStackTrace(err);
            }
            err.flush();
            return ole.code().exitCode();
        }
        Throwable cause = e instanceof java.io.UncheckedIOException u ? u.getCause() : e;
        if (cause instanceof java.io.IOException io) {
            // a file operation without its own message (creating --out, listing a folder): still an I/O error
            err.println("onnx-lora: error: " + org.onnxlora.io.IoErrors.describe(io));
            if (Boolean.getBoolean("onnxlora.stacktrace")) {
                io.printStackTrace(err);
            }
            err.flush();
            return org.onnxlora.ErrorCode.IO.exitCode();
        }
        err.println("onnx-lora: internal error: " + e);
        e.printStackTrace(err);
        err.flush();
        return org.onnxlora.ErrorCode.INTERNAL.exitCode();
    }

    private static int onBadParameters(CommandLine.ParameterException e, String[] args) {
        CommandLine.ParameterException shown = Suggestions.typoFirst(e);
        CommandLine cl = shown.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("onnx-lora: " + (shown instanceof CommandLine.UnmatchedArgumentException u
                ? Suggestions.describe(u) : shown.getMessage()));
        err.println("Try 'onnx-lora " + (cl.getCommandName().equals("onnx-lora") ? "" : cl.getCommandName() + " ")
                + "--help' for more information.");
        err.flush();
        return org.onnxlora.ErrorCode.BAD_ARGUMENT.exitCode();
    }

    /** The version Maven wrote into version.properties at build time. */
    static final class Version implements CommandLine.IVersionProvider {
        static final String RESOURCE = "/org/onnxlora/version.properties";

        @Override
        public String[] getVersion() throws java.io.IOException {
            return new String[] {"onnx-lora " + number() + ", ONNX Runtime "
                    + ai.onnxruntime.OrtEnvironment.class.getPackage().getImplementationVersion()};
        }

        static String number() throws java.io.IOException {
            java.util.Properties p = new java.util.Properties();
            try (java.io.InputStream in = Main.class.getResourceAsStream(RESOURCE)) {
                if (in == null) {
                    throw new java.io.IOException(RESOURCE + " is missing from the build");
                }
                p.load(in);
            }
            return p.getProperty("version");
        }
    }
}
