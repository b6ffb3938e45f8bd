package org.onnxlora.runtime;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * The token ids and sizes a Hugging Face {@code config.json} beside an export states. Exports
 * made with {@code save_pretrained} (and every Optimum folder) carry one; it knows the model's
 * own pad and decoder-start ids, which the family's defaults can only guess.
 */
public record HfModelConfig(Path file, OptionalLong padTokenId, OptionalLong decoderStartTokenId,
        OptionalLong maxPositionEmbeddings, OptionalLong vocabSize) {

    public static final String FILE_NAME = "config.json";

    /** The config beside {@code model} ({@link org.onnxlora.lora.ModelFiles#configOf}), if there is one. */
    public static Optional<HfModelConfig> besides(Path model) {
        return org.onnxlora.lora.ModelFiles.configOf(model).map(HfModelConfig::read);
    }

    public static HfModelConfig read(Path file) {
        try {
            JsonElement e = JsonParser.parseString(Files.readString(file));
            if (!e.isJsonObject()) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + " is not a JSON object");
            }
            JsonObject o = e.getAsJsonObject();
            return new HfModelConfig(file, id(o, "pad_token_id"), id(o, "decoder_start_token_id"),
                    id(o, "max_position_embeddings"), id(o, "vocab_size"));
        } catch (IOException | RuntimeException e) {
            if (e instanceof OnnxLoraException ole) {
                throw ole;
            }
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static OptionalLong id(JsonObject o, String key) {
        JsonElement v = o.get(key);
        return v == null || !v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber() ? OptionalLong.empty()
                : OptionalLong.of(v.getAsLong());
    }
}
