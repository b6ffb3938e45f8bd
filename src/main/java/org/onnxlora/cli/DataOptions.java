package org.onnxlora.cli;

import org.onnxlora.data.DataConfig;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import picocli.CommandLine.Option;

/** How text pairs are read and cut to length; shared by train and eval. */
final class DataOptions {
    @Option(names = "--source-field", defaultValue = "source", description = "Field with the input text (default: ${DEFAULT-VALUE}).")
    String sourceField;

    @Option(names = "--target-field", defaultValue = "target", description = "Field with the target/reference text (default: ${DEFAULT-VALUE}).")
    String targetField;

    @Option(names = "--format", description = "jsonl, csv or tsv (default: from the file extension).")
    String format;

    @Option(names = "--skip-bad-rows", description = "Skip malformed rows (counted and reported) instead of failing.")
    boolean skipBadRows;

    @Option(names = "--max-source-length", defaultValue = "256", description = "Source tokens kept (default: ${DEFAULT-VALUE}).")
    int maxSourceLength;

    @Option(names = "--max-target-length", defaultValue = "64", description = "Target tokens kept (default: ${DEFAULT-VALUE}).")
    int maxTargetLength;

    /** These flags as the library's data settings. */
    org.onnxlora.api.DataSettings settings() {
        return new org.onnxlora.api.DataSettings(format, sourceField, targetField, skipBadRows, maxSourceLength,
                maxTargetLength);
    }

    ReaderOptions reader() {
        return settings().reader();
    }

    /** Refuses bad lengths or a bad decoder start before the tokenizer and data are read. */
    void check(Integer decoderStart) {
        settings().check(decoderStart);
    }

    DataConfig config(TextTokenizer tok) {
        return settings().config(tok);
    }
}
