package org.onnxlora.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** Reads (source, target) text pairs from a JSONL, CSV or TSV file (UTF-8). */
public final class DataReader {
    private DataReader() {}

    public static ReadResult read(Path file, ReaderOptions options) {
        if (!Files.isRegularFile(file)) {
            throw new OnnxLoraException(ErrorCode.IO, "data file not found: " + file);
        }
        DataFormat format = options.format() != null ? options.format() : DataFormat.of(file);
        RowCollector out = new RowCollector(file, options);
        LineCounter lines = new LineCounter();
        // newBufferedReader reports malformed UTF-8 instead of replacing it silently.
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            switch (format) {
                case JSONL -> JsonlRows.read(in, out, lines);
                case CSV -> DelimitedRows.read(in, ',', out, lines);
                case TSV -> DelimitedRows.read(in, '\t', out, lines);
            }
        } catch (CharacterCodingException e) {
            throw new OnnxLoraException(ErrorCode.BAD_DATA, file + ":" + Math.max(1, lines.current())
                    + ": not valid UTF-8 (at or after this line)", e);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + e.getMessage(), e);
        }
        return out.finish();
    }
}
