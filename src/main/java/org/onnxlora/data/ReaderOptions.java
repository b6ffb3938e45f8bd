package org.onnxlora.data;

import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * How to read a data file.
 *
 * @param format the file format, or null to choose it by the file's extension
 * @param sourceField JSON key or CSV/TSV header name of the input text
 * @param targetField JSON key or CSV/TSV header name of the output text
 * @param skipBadRows skip and count malformed rows instead of failing on the first one
 */
public record ReaderOptions(DataFormat format, String sourceField, String targetField, boolean skipBadRows) {
    public static final ReaderOptions DEFAULT = new ReaderOptions(null, "source", "target", false);

    public ReaderOptions {
        if (sourceField == null || sourceField.isBlank()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "source field name must not be empty");
        }
        if (targetField == null || targetField.isBlank()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "target field name must not be empty");
        }
    }

    public ReaderOptions withFormat(DataFormat f) {
        return new ReaderOptions(f, sourceField, targetField, skipBadRows);
    }

    public ReaderOptions withFields(String source, String target) {
        return new ReaderOptions(format, source, target, skipBadRows);
    }

    public ReaderOptions withSkipBadRows(boolean skip) {
        return new ReaderOptions(format, sourceField, targetField, skip);
    }
}
