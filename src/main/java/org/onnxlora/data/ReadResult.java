package org.onnxlora.data;

import java.nio.file.Path;
import java.util.List;

/**
 * The usable rows of a data file, and what was skipped when bad rows are skipped.
 *
 * @param skippedRows how many bad rows were skipped (0 unless skipping was asked for)
 * @param skipReasons {@code file:line: what} for the first few skipped rows
 */
public record ReadResult(Path file, List<TextPair> rows, int skippedRows, List<String> skipReasons) {
    /** At most this many reasons are kept; the count is always exact. */
    public static final int MAX_REASONS = 10;

    public ReadResult {
        rows = List.copyOf(rows);
        skipReasons = List.copyOf(skipReasons);
    }
}
