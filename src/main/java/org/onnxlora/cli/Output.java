package org.onnxlora.cli;

import java.io.PrintWriter;
import picocli.CommandLine.Option;

/**
 * Options every command shares: how chatty to be. Results go to stdout,
 * messages and progress to stderr, so {@code --json} output can be piped.
 */
public final class Output {
    @Option(names = {"-q", "--quiet"}, description = "Print only results and errors.")
    boolean quiet;

    @Option(names = {"-v", "--verbose"}, description = "Explain more of what happens.")
    boolean verbose;

    private PrintWriter out;
    private PrintWriter err;

    void bind(PrintWriter out, PrintWriter err) {
        this.out = out;
        this.err = err;
    }

    PrintWriter out() {
        return out;
    }

    /** A progress message on stderr, unless --quiet. */
    void info(String fmt, Object... args) {
        if (!quiet) {
            err.println(String.format(java.util.Locale.ROOT, fmt, args));
            err.flush();
        }
    }

    void detail(String fmt, Object... args) {
        if (verbose && !quiet) {
            info(fmt, args);
        }
    }

    /** A result line on stdout. */
    void result(String fmt, Object... args) {
        out.println(String.format(java.util.Locale.ROOT, fmt, args));
        out.flush();
    }

    ConsoleProgress progress() {
        return new ConsoleProgress(err, !quiet && System.console() != null);
    }
}
