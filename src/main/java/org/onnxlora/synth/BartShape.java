package org.onnxlora.synth;

import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;
import org.onnxlora.proto.Onnx.TensorProto.DataType;

/**
 * The dimensions of a BART model, as in a Hugging Face {@code BartConfig}.
 *
 * <p>{@code maxPositions} is {@code max_position_embeddings}; the learned position
 * tables have {@link #POSITION_OFFSET} more rows, as BART's do.
 */
public record BartShape(int vocab, int dModel, int encoderLayers, int decoderLayers, int heads, int ffn,
        int maxPositions, Dtype dtype) {

    /** BART's learned positional embedding skips its first two rows (a fairseq legacy). */
    public static final int POSITION_OFFSET = 2;

    /** Element type of every float tensor in the graph. */
    public enum Dtype {
        FLOAT32(DataType.FLOAT_VALUE, 4),
        FLOAT16(DataType.FLOAT16_VALUE, 2);

        private final int onnxType;
        private final int bytes;

        Dtype(int onnxType, int bytes) {
            this.onnxType = onnxType;
            this.bytes = bytes;
        }

        public int onnxType() {
            return onnxType;
        }

        public int bytes() {
            return bytes;
        }

        /** The value HF adds to masked attention scores: the dtype's most negative finite number. */
        public double maskValue() {
            return this == FLOAT16 ? -65504.0 : -Float.MAX_VALUE;
        }
    }

    public BartShape {
        positive("vocab", vocab);
        positive("d-model", dModel);
        positive("encoder-layers", encoderLayers);
        positive("decoder-layers", decoderLayers);
        positive("heads", heads);
        positive("ffn", ffn);
        positive("max-positions", maxPositions);
        if (dModel % heads != 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.D_MODEL,
                    "d_model " + dModel + " is not divisible by the head count " + heads);
        }
        if (dtype == null) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a dtype is required");
        }
    }

    private static void positive(String flag, int v) {
        if (v <= 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "--" + flag + " must be positive, got " + v);
        }
    }

    /** Same dimensions as the committed fixture {@code models/tiny-bart/model.onnx}. */
    public static BartShape tiny() {
        return new BartShape(2048, 64, 2, 2, 4, 256, 256, Dtype.FLOAT32);
    }

    /** facebook/bart-base: 139,420,416 parameters. */
    public static BartShape base() {
        return new BartShape(50265, 768, 6, 6, 12, 3072, 1024, Dtype.FLOAT32);
    }

    /** facebook/bart-large: 406,291,456 parameters. */
    public static BartShape large() {
        return new BartShape(50265, 1024, 12, 12, 16, 4096, 1024, Dtype.FLOAT32);
    }

    public static BartShape preset(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "tiny" -> tiny();
            case "base" -> base();
            case "large" -> large();
            default -> throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT,
                    "unknown preset '" + name + "'; expected tiny, base or large");
        };
    }

    public int headDim() {
        return dModel / heads;
    }

    public int positionRows() {
        return maxPositions + POSITION_OFFSET;
    }

    /**
     * Trainable parameters as PyTorch counts them ({@code model.num_parameters()}):
     * the shared embedding once, {@code final_logits_bias} not at all (it is a buffer).
     */
    public long parameterCount() {
        long d = dModel;
        long linear = d * d + d;
        long norm = 2 * d;
        long ffnPair = (d * ffn + ffn) + (ffn * d + d);
        long encoderLayer = 4 * linear + ffnPair + 2 * norm;
        long decoderLayer = 8 * linear + ffnPair + 3 * norm;
        return (long) vocab * d
                + 2L * positionRows() * d
                + 2 * norm
                + encoderLayers * encoderLayer
                + decoderLayers * decoderLayer;
    }

    /**
     * Elements in the exported graph's initializers. The TorchScript exporter stores the
     * tied lm_head as a second, transposed copy of the shared embedding and the
     * {@code final_logits_bias} buffer as a {@code [1, vocab]} constant.
     */
    public long initializerElementCount() {
        return parameterCount() + (long) vocab * dModel + vocab;
    }

    /** Bytes of weights in the exported file (what the .onnx or its .data weighs, give or take the graph). */
    public long weightBytes() {
        return initializerElementCount() * dtype.bytes();
    }

    public BartShape withVocab(int v) {
        return new BartShape(v, dModel, encoderLayers, decoderLayers, heads, ffn, maxPositions, dtype);
    }

    public BartShape withDModel(int v) {
        return new BartShape(vocab, v, encoderLayers, decoderLayers, heads, ffn, maxPositions, dtype);
    }

    public BartShape withLayers(int encoder, int decoder) {
        return new BartShape(vocab, dModel, encoder, decoder, heads, ffn, maxPositions, dtype);
    }

    public BartShape withHeads(int v) {
        return new BartShape(vocab, dModel, encoderLayers, decoderLayers, v, ffn, maxPositions, dtype);
    }

    public BartShape withFfn(int v) {
        return new BartShape(vocab, dModel, encoderLayers, decoderLayers, heads, v, maxPositions, dtype);
    }

    public BartShape withMaxPositions(int v) {
        return new BartShape(vocab, dModel, encoderLayers, decoderLayers, heads, ffn, v, dtype);
    }

    public BartShape withDtype(Dtype v) {
        return new BartShape(vocab, dModel, encoderLayers, decoderLayers, heads, ffn, maxPositions, v);
    }

    @Override
    public String toString() {
        return "vocab " + vocab + ", d_model " + dModel + ", " + encoderLayers + "+" + decoderLayers
                + " layers, " + heads + " heads, ffn " + ffn + ", " + maxPositions + " positions, "
                + dtype.name().toLowerCase(Locale.ROOT);
    }
}
