package org.onnxlora.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** Common plumbing of every subcommand: output streams and verbosity. */
abstract class BaseCommand implements Callable<Integer> {
    @Mixin
    Output output;

    @Spec
    CommandSpec spec;

    @Override
    public final Integer call() throws Exception {
        output.bind(spec.commandLine().getOut(), spec.commandLine().getErr());
        return execute();
    }

    /** Does the work; returns the exit code (0) or throws {@link org.onnxlora.OnnxLoraException}. */
    abstract int execute() throws Exception;
}
