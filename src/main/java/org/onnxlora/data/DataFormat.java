package org.onnxlora.data;

import java.nio.file.Path;
import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** File formats for seq2seq pairs. */
public enum DataFormat {
    /** One JSON object per line. */
    JSONL,
    /** Comma-separated with a header row; RFC 4180 quoting. */
    CSV,
    /** Tab-separated with a header row; the same quoting as CSV (what pandas and Python's csv write). */
    TSV;

    /** The format named by the file's extension: .jsonl/.ndjson, .csv, .tsv/.tab. */
    public static DataFormat of(Path file) {
        String name = String.valueOf(file.getFileName()).toLowerCase(Locale.ROOT);
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return JSONL;
        }
        if (name.endsWith(".csv")) {
            return CSV;
        }
        if (name.endsWith(".tsv") || name.endsWith(".tab")) {
            return TSV;
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot tell the format of " + file
                + " from its extension (.jsonl, .csv, .tsv); name the format explicitly (jsonl, csv, tsv)");
    }

    /** Parses a user-given format name, case-insensitively. */
    public static DataFormat parse(String name) {
        for (DataFormat f : values()) {
            if (f.name().equalsIgnoreCase(name.trim())) {
                return f;
            }
        }
        throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "unknown data format '" + name + "' (expected jsonl, csv or tsv)");
    }
}
