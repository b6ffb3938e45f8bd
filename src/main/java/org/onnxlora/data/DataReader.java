package org.onnxlora.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/** Reads (source, target) text pairs from a JSONL, CSV or TSV file (UTF-8). */
public final class DataReader {
    private DataReader() {}

    public static ReadResult read(Path file, ReaderOptions options) {
        if (!Files.isRegularFile(file)) {
            throw new OnnxLoraException(ErrorCode.IO, "data file not found: " + file);
        }
        DataFormat format = options.format() != null ? options.format() : DataFormat.of(file);
        RowCollector out = new RowCollector(file, options);
        // Malformed UTF-8 is reported at its own line, never replaced silently.
        try (BufferedReader in = new BufferedReader(new Utf8LineReader(Files.newInputStream(file)))) {
            switch (format) {
                case JSONL -> JsonlRows.read(in, out);
                case CSV -> DelimitedRows.read(in, ',', out);
                case TSV -> DelimitedRows.read(in, '\t', out);
            }
        } catch (Utf8LineReader.MalformedLineException e) {
            throw new OnnxLoraException(ErrorCode.BAD_DATA, file + ":" + e.line + ": not valid UTF-8 (" + e.what
                    + " at column " + e.column + ")", e);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
        return out.finish();
    }
}
