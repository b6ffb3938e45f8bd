package org.onnxlora.cli;

import com.google.gson.Gson;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.Progress;
import org.onnxlora.data.DataFormat;
import org.onnxlora.data.DataReader;
import org.onnxlora.data.ReadResult;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextPair;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.generate.Generator;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.Json;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.runtime.Seq2SeqSignature;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {
            "Generate text for every row of a JSONL/CSV/TSV file with batched greedy or beam search.",
            "",
            "--model is a single .onnx (the decoder is re-run on the whole prefix each step) or an Optimum folder",
            "with decoder_with_past_model.onnx (KV cache: much faster). --adapter applies a run's adapters to a",
            "patched model. Output: one JSON object per input row, {\"line\", \"source\", \"prediction\"}.",
            "Inputs are fed as the model family (graphs/bart.json) names them: 3- and 4-input exports, static",
            "shapes (padded to the fixed sizes). Decoder start and pad ids come from the config.json beside the",
            "model (NAME.config.json or config.json), else the family; --decoder-start-token-id overrides both."},
        footer = {"", "Examples:",
            "  onnx-lora generate --model merged.onnx --tokenizer tokenizer.json --input test.jsonl --out preds.jsonl",
            "  onnx-lora generate --model run1/model.onnx --adapter run1 --tokenizer tokenizer.json --input test.jsonl \\",
            "      --out preds.jsonl --num-beams 4 --no-repeat-ngram-size 3"})
final class GenerateCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE|DIR", description = "Model file or Optimum folder.")
    Path model;

    @Option(names = "--adapter", paramLabel = "RUN|DIR|FILE", description = "Trained adapters for a patched model.")
    Path adapter;

    @Option(names = "--tokenizer", required = true, paramLabel = "FILE", description = "tokenizer.json.")
    Path tokenizer;

    @Option(names = "--input", required = true, paramLabel = "FILE", description = "Rows to generate for.")
    Path input;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Predictions (JSONL).")
    Path out;

    @Option(names = "--source-field", defaultValue = "source", description = "Field with the input text (default: ${DEFAULT-VALUE}).")
    String sourceField;

    @Option(names = "--format", description = "jsonl, csv or tsv (default: from the file extension).")
    String format;

    @Option(names = "--max-source-length", defaultValue = "256", description = "Source tokens kept (default: ${DEFAULT-VALUE}).")
    int maxSourceLength;

    @Option(names = "--batch-size", defaultValue = "8", description = "Examples decoded together (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core.")
    int threads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Mixin
    GenerationOptions generation;

    @Mixin
    ModelOptions modelOptions;

    @Override
    int execute() throws IOException {
        OutputGuard.check(out, OutputGuard.Kind.FILE, force, org.onnxlora.api.TrainingRun.inputsOf(input, model, adapter, tokenizer));
        Flags.atLeast("--batch-size", batchSize, 1);
        Flags.atLeast("--max-source-length", maxSourceLength, 1);
        generation.config(); // the decoding flags are checked before any model or data is read
        RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads).withDevice(Device.parse(device));
        // targets are optional here: read the source field twice rather than require one
        ReaderOptions ro = ReaderOptions.DEFAULT.withFields(sourceField, sourceField);
        ReadResult rows = DataReader.read(input, format == null ? ro : ro.withFormat(DataFormat.parse(format)));
        Seq2SeqSignature sig = contract();
        long t0 = System.nanoTime();
        List<String> predictions;
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            sig.checkTokenizerVocab(tok.vocabSize(), tokenizer.toString());
        }
        try (TextTokenizer tok = TextTokenizer.load(tokenizer); AdapterModels m = AdapterModels.of(model, adapter);
                Generator gen = Files.isDirectory(model)
                        ? Generator.open(m.path(), generation.config(sig), rt, modelOptions.family())
                        : Generator.open(m.path(), sig, generation.config(sig), rt)) {
            predictions = generateAll(tok, gen, rows.rows(), batchSize, maxSourceLength, output.progress());
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        Gson gson = Json.builder().create();
        AtomicFiles.write(out, os -> {
            BufferedWriter w = new BufferedWriter(new java.io.OutputStreamWriter(os, StandardCharsets.UTF_8));
            for (int i = 0; i < predictions.size(); i++) {
                Map<String, Object> o = new LinkedHashMap<>();
                o.put("line", rows.rows().get(i).line());
                o.put("source", rows.rows().get(i).source());
                o.put("prediction", predictions.get(i));
                w.write(gson.toJson(o));
                w.newLine();
            }
            w.flush();
            return null;
        });
        output.result("{\"examples\": %d, \"seconds\": %.3f, \"ms_per_example\": %.2f, \"out\": %s}", predictions.size(),
                seconds, 1000 * seconds / Math.max(1, predictions.size()), gson.toJson(out.toString()));
        return 0;
    }

    /**
     * The contract generation runs under: a file's own, or an Optimum folder's decoder (vocabulary, ids) after its
     * encoder's position table has been checked against the source length.
     */
    private Seq2SeqSignature contract() {
        if (!Files.isDirectory(model)) {
            Seq2SeqSignature s = modelOptions.signature(ModelIO.load(model), model);
            s.checkMaxLengths(maxSourceLength, 1);
            s.checkFitsStatic(maxSourceLength, 1);
            return s;
        }
        ModelFiles.requireOptimum(model);
        Path enc = model.resolve(ModelFiles.ENCODER);
        modelOptions.signature(ModelIO.load(enc), enc).checkMaxLengths(maxSourceLength, 1);
        Path dec = model.resolve(ModelFiles.DECODER);
        return modelOptions.signature(ModelIO.load(dec), dec);
    }

    /** Predictions for every row, in order, decoded without special tokens. */
    static List<String> generateAll(TextTokenizer tok, Generator gen, List<TextPair> rows, int batchSize,
            int maxSourceLength, Progress progress) {
        List<String> predictions = new ArrayList<>();
        progress.start("generate", rows.size());
        for (int i = 0; i < rows.size(); i += batchSize) {
            List<TextPair> chunk = rows.subList(i, Math.min(rows.size(), i + batchSize));
            List<long[]> ids = tok.encodeAll(chunk.stream().map(TextPair::source).toList(), maxSourceLength);
            for (long[] out : gen.generate(ids)) {
                predictions.add(tok.decode(out, true).strip());
            }
            progress.advance(predictions.size(), "");
        }
        progress.finish();
        return predictions;
    }
}
