package org.onnxlora.data;

import java.io.IOException;
import java.io.Reader;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** CSV or TSV with a header row; fields are found by header name. */
final class DelimitedRows {
    private DelimitedRows() {}

    static void read(Reader in, char delimiter, RowCollector out) throws IOException {
        CsvRecords records = new CsvRecords(in, delimiter);
        List<String> header = null;
        int sourceAt = -1;
        int targetAt = -1;
        List<String> fields;
        while ((fields = records.next()) != null) {
            int line = records.startLine();
            if (records.fatal()) {
                // Nothing after an unterminated quote can be trusted, so this is never skipped.
                throw new OnnxLoraException(ErrorCode.BAD_DATA, out.file() + ":" + line + ": " + records.error());
            }
            if (records.blank()) {
                continue;
            }
            if (header == null) {
                if (records.error() != null) {
                    throw new OnnxLoraException(ErrorCode.BAD_DATA, out.file() + ":" + line + ": header: " + records.error());
                }
                header = new ArrayList<>();
                for (String f : fields) {
                    header.add(f.strip());
                }
                out.fields(header);
                sourceAt = header.indexOf(out.options().sourceField());
                targetAt = header.indexOf(out.options().targetField());
                continue;
            }
            if (records.error() != null) {
                out.bad(line, records.error());
            } else if (fields.size() != header.size()) {
                // Usually an unquoted delimiter inside a text: the columns cannot be trusted.
                out.bad(line, "has " + fields.size() + " fields, the header has " + header.size()
                        + (delimiter == '\t' ? " (a tab inside a text must be quoted)" : " (a comma inside a text must be quoted)"));
            } else {
                out.add(line, fields.get(sourceAt), fields.get(targetAt));
            }
        }
    }
}
