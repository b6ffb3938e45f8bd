package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.Set;
import org.onnxlora.data.DataConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Seq2SeqSignature;
import picocli.CommandLine.Option;

/** How the commands that run a model read its contract: the family's defaults, config.json, and these flags. */
final class ModelOptions {
    @Option(names = "--decoder-start-token-id", paramLabel = "ID",
            description = "Decoder start token (default: the model's config.json beside it, else the family's: 2 for BART).")
    Integer decoderStart;

    ModelFamily family() {
        return ModelFamily.bart();
    }

    /** The contract of {@code model} (read from {@code file}), refusing inputs it cannot feed. */
    Seq2SeqSignature signature(ModelProto model, Path file) {
        return signature(model, file, Set.of(), null);
    }

    Seq2SeqSignature signature(ModelProto model, Path file, Set<String> fedElsewhere, String logits) {
        Seq2SeqSignature s = Seq2SeqSignature.of(model, file, family(), fedElsewhere, logits);
        return decoderStart == null ? s : s.withDecoderStartTokenId(decoderStart);
    }

    /** {@code config} with the contract's decoder start token. */
    static DataConfig withContract(DataConfig config, Seq2SeqSignature s) {
        return config.withDecoderStartTokenId(Math.toIntExact(s.decoderStartTokenId()));
    }
}
