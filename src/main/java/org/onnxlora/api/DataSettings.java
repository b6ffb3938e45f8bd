package org.onnxlora.api;

import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataFormat;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;

/**
 * How text pairs are read and cut: the file format ({@code null}: from the extension), the
 * fields holding source and target, whether malformed rows are skipped, and the token lengths kept.
 */
public record DataSettings(String format, String sourceField, String targetField, boolean skipBadRows,
        int maxSourceLength, int maxTargetLength) {
    public static final DataSettings DEFAULT = new DataSettings(null, "source", "target", false, 256, 64);

    public DataSettings withMaxLengths(int source, int target) {
        return new DataSettings(format, sourceField, targetField, skipBadRows, source, target);
    }

    public ReaderOptions reader() {
        ReaderOptions ro = ReaderOptions.DEFAULT.withFields(sourceField, targetField).withSkipBadRows(skipBadRows);
        return format == null ? ro : ro.withFormat(DataFormat.parse(format));
    }

    /** Refuses bad lengths or a bad decoder start before the tokenizer and data are read. */
    public void check(Integer decoderStart) {
        reader();
        // the pad id comes from the tokenizer; 0 stands in for it here
        DataConfig.defaults(0).withMaxLengths(maxSourceLength, maxTargetLength)
                .withDecoderStartTokenId(decoderStart != null ? decoderStart : DataConfig.BART_DECODER_START_TOKEN_ID);
    }

    public DataConfig config(TextTokenizer tok) {
        return DataConfig.forTokenizer(tok).withMaxLengths(maxSourceLength, maxTargetLength);
    }
}
