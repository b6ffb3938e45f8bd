package org.onnxlora.data;

import java.util.Arrays;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * Pads examples into a {@link Batch} for teacher-forced training, exactly as Hugging Face's
 * {@code DataCollatorForSeq2Seq} followed by BART's {@code shift_tokens_right} would:
 * inputs padded with the pad id (attention mask 0 there), labels padded with the ignore index,
 * decoder inputs = labels shifted right by one with the decoder start token first.
 */
public final class TeacherForcing {
    private TeacherForcing() {}

    /** One batch, padded to its longest source and longest target. */
    public static Batch collate(List<Seq2SeqExample> examples, DataConfig config) {
        int sourceLength = 0;
        int targetLength = 0;
        for (Seq2SeqExample e : examples) {
            sourceLength = Math.max(sourceLength, e.sourceLength());
            targetLength = Math.max(targetLength, e.targetLength());
        }
        return collate(examples, config, sourceLength, targetLength);
    }

    /**
     * One batch padded to {@code sourceLength} and {@code targetLength}, which must be at least its
     * longest source and target. The extra positions change no loss: padded sources are masked,
     * padded labels ignored, and the decoder is causal.
     */
    public static Batch collate(List<Seq2SeqExample> examples, DataConfig config, int sourceLength, int targetLength) {
        int size = examples.size();
        for (Seq2SeqExample e : examples) {
            if (e.sourceLength() > sourceLength || e.targetLength() > targetLength) {
                throw new OnnxLoraException(ErrorCode.INTERNAL, "an example of " + e.sourceLength() + "+"
                        + e.targetLength() + " tokens does not fit a batch padded to " + sourceLength + "+" + targetLength);
            }
        }
        long[] inputIds = new long[size * sourceLength];
        long[] mask = new long[inputIds.length];
        long[] labels = new long[size * targetLength];
        Arrays.fill(inputIds, config.padId());
        Arrays.fill(labels, config.ignoreIndex());
        for (int r = 0; r < size; r++) {
            Seq2SeqExample e = examples.get(r);
            System.arraycopy(e.sourceIds(), 0, inputIds, r * sourceLength, e.sourceLength());
            Arrays.fill(mask, r * sourceLength, r * sourceLength + e.sourceLength(), 1L);
            System.arraycopy(e.targetIds(), 0, labels, r * targetLength, e.targetLength());
        }
        long[] decoderInputIds = shiftTokensRight(labels, size, targetLength, config.decoderStartTokenId(),
                config.padId(), config.ignoreIndex());
        return new Batch(size, sourceLength, targetLength, inputIds, mask, decoderInputIds, labels);
    }

    /**
     * Hugging Face's {@code shift_tokens_right} on row-major {@code [rows, length]} labels:
     * each row becomes {@code [start, labels[0 .. length-2]]}, then every {@code ignoreIndex}
     * becomes {@code pad}. On a padded row the last real label ({@code </s>}) therefore appears
     * as a decoder input at the first padding position; its label there is ignored.
     */
    public static long[] shiftTokensRight(long[] labels, int rows, int length, long decoderStartTokenId,
            long padId, long ignoreIndex) {
        long[] out = new long[rows * length];
        for (int r = 0; r < rows; r++) {
            int base = r * length;
            if (length > 0) {
                out[base] = decoderStartTokenId;
            }
            System.arraycopy(labels, base, out, base + 1, Math.max(0, length - 1));
        }
        for (int i = 0; i < out.length; i++) {
            if (out[i] == ignoreIndex) {
                out[i] = padId;
            }
        }
        return out;
    }
}
