package org.onnxlora.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Receives rows from a format parser, validates the texts, and either fails on a bad row
 * ({@code file:line: what}) or skips and counts it. Format parsers only split; the rules for
 * what makes a row usable live here, once.
 */
final class RowCollector {
    private final Path file;
    private final ReaderOptions options;
    private final List<TextPair> rows = new ArrayList<>();
    private final List<String> reasons = new ArrayList<>();
    private int skipped;
    private boolean fieldsChecked;

    RowCollector(Path file, ReaderOptions options) {
        this.file = file;
        this.options = options;
    }

    /**
     * The field names of the first row (JSONL) or the header (CSV/TSV). A configured field
     * that is not among them is a wrong option, not a bad row: fail listing what exists.
     */
    void fields(Collection<String> available) {
        if (fieldsChecked) {
            return;
        }
        fieldsChecked = true;
        for (String wanted : List.of(options.sourceField(), options.targetField())) {
            if (!available.contains(wanted)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + ": no field '" + wanted
                        + "'; the first row has: " + String.join(", ", available.stream().map(f -> "'" + f + "'").toList()));
            }
        }
    }

    void add(int line, String source, String target) {
        if (source.isBlank()) {
            bad(line, "field '" + options.sourceField() + "' is empty");
        } else if (target.isBlank()) {
            bad(line, "field '" + options.targetField() + "' is empty");
        } else {
            rows.add(new TextPair(source, target, line));
        }
    }

    /** A row that cannot be used: fail, or skip and count it. */
    void bad(int line, String what) {
        String message = file + ":" + line + ": " + what;
        if (!options.skipBadRows()) {
            throw new OnnxLoraException(ErrorCode.BAD_DATA, message);
        }
        skipped++;
        if (reasons.size() < ReadResult.MAX_REASONS) {
            reasons.add(message);
        }
    }

    ReadResult finish() {
        if (rows.isEmpty()) {
            if (skipped > 0) {
                throw new OnnxLoraException(ErrorCode.BAD_DATA, file + ": no usable rows; all " + skipped
                        + " rows are bad, the first: " + reasons.get(0));
            }
            throw new OnnxLoraException(ErrorCode.BAD_DATA, file + ": no rows (the file is empty or has only a header)");
        }
        return new ReadResult(file, rows, skipped, reasons);
    }

    Path file() {
        return file;
    }

    ReaderOptions options() {
        return options;
    }
}
