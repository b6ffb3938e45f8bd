package org.onnxlora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataReader;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReadResult;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextPair;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.eval.AdapterOverrides;
import org.onnxlora.eval.LossEvaluator;
import org.onnxlora.generate.GenerationConfig;
import org.onnxlora.generate.Generator;
import org.onnxlora.io.Json;
import org.onnxlora.io.ModelIO;
import org.onnxlora.metrics.Rouge;
import org.onnxlora.metrics.RougeScores;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Seq2SeqSignature;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {
            "Score a model on text pairs: loss, perplexity and ROUGE-1/2/L, as one JSON object.",
            "",
            "The loss is token-level cross entropy with teacher forcing; ROUGE compares generated text with the",
            "references.",
            "",
            "Works on base, patched and merged models; --adapter applies a run's adapters to a patched model.",
            "The loss is computed from the logits in double precision, the same way for every form of the",
            "model, so a merged model reproduces its patched model's loss. Inputs are fed as the model family",
            "(graphs/bart.json) names them (3- or 4-input exports, static shapes); ids come from the config.json",
            "beside the model, else the family, and --decoder-start-token-id."},
        footer = {"", "Examples:",
            "  onnx-lora eval --model merged.onnx --tokenizer tokenizer.json --data valid.jsonl",
            "  onnx-lora eval --model run1/model.onnx --adapter run1 --tokenizer tokenizer.json --data valid.jsonl --no-generate",
            "  onnx-lora eval --model run1/model.onnx --run run1 --tokenizer tokenizer.json --data test.jsonl",
            "      # also writes run1/eval/test.json, which 'onnx-lora report run1' shows",
            "  onnx-lora eval --model merged.onnx --tokenizer tokenizer.json --data test.jsonl --out scores.json"})
final class EvalCommand extends BaseCommand {
    @Option(names = "--model", required = true, paramLabel = "FILE", description = "Model (.onnx with a logits output).")
    Path model;

    @Option(names = "--adapter", paramLabel = "RUN|DIR|FILE", description = "Trained adapters for a patched model.")
    Path adapter;

    @Option(names = "--tokenizer", required = true, paramLabel = "FILE", description = "tokenizer.json.")
    Path tokenizer;

    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Pairs to score (.jsonl, .csv, .tsv).")
    Path data;

    @Mixin
    DataOptions dataOptions;

    @Option(names = "--batch-size", defaultValue = "16", description = "Examples per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--no-generate", description = "Only the loss: skip generation and ROUGE.")
    boolean noGenerate;

    @Option(names = "--threads", defaultValue = "0", description = "Intra-op threads; 0 = one per core.")
    int threads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Mixin
    GenerationOptions generation;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--out", paramLabel = "FILE", description = "Also write the JSON result to FILE (atomically).")
    Path out;

    @Option(names = "--run", paramLabel = "RUN", description = "Attach the result to a run: RUN/eval/<name>.json,"
            + " shown by report. A patched model without --adapter is scored with RUN's adapters.")
    Path run;

    @Option(names = "--name", paramLabel = "NAME", description = "Name of the attached result (default: the --data"
            + " file's name without extension).")
    String name;

    @Option(names = "--force", description = "Replace an existing --out or attached result of the same name.")
    boolean force;

    @Override
    int execute() throws IOException {
        if (Files.isDirectory(model)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "eval needs one model file with a logits output;"
                    + " for an Optimum folder use generate");
        }
        Flags.atLeast("--batch-size", batchSize, 1);
        dataOptions.check(null);
        generation.config(); // the decoding flags are checked before any model or data is read
        EvalOutputs outputs = EvalOutputs.check(out, run, name, data, force, model, tokenizer, adapter);
        RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads).withDevice(Device.parse(device));
        ReaderOptions ro = dataOptions.reader();
        Map<String, Object> o = new LinkedHashMap<>();
        var proto = ModelIO.load(model);
        Seq2SeqSignature sig = modelOptions.signature(proto, model);
        sig.checkMaxLengths(dataOptions.maxSourceLength, dataOptions.maxTargetLength);
        sig.checkFitsStatic(dataOptions.maxSourceLength, dataOptions.maxTargetLength);
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            sig.checkTokenizerVocab(tok.vocabSize(), tokenizer.toString());
            DataConfig dc = ModelOptions.withContract(dataOptions.config(tok), sig);
            Dataset ds = Dataset.load(data, ro, tok, dc, output.progress());
            adapter = outputs.adapterFor(adapter, proto);
            org.onnxlora.lora.AdapterValues adapters = adapter == null ? org.onnxlora.lora.AdapterValues.none() : org.onnxlora.api.TrainingRun.adapters(adapter);
            LossEvaluator.Result loss;
            try (AdapterOverrides ov = new AdapterOverrides(proto, adapters);
                    LossEvaluator ev = new LossEvaluator(model, sig, ov, rt)) {
                proto = null;
                loss = ev.evaluate(Batcher.inOrder(ds.examples(), batchSize, dc), output.progress());
            }
            if (!Double.isFinite(loss.loss())) {
                output.info("warning: the loss is %s; JSON has no such number, so it is written as the string \"%s\"",
                        loss.loss(), loss.loss());
            }
            o.put("loss", loss.loss());
            o.put("perplexity", loss.perplexity());
            o.put("tokens", loss.tokens());
            o.put("examples", ds.examples().size());
            if (!noGenerate) {
                ReadResult rows = DataReader.read(data, ro);
                List<String> refs = rows.rows().stream().map(TextPair::target).toList();
                List<String> preds;
                try (AdapterModels m = AdapterModels.of(model, adapter);
                        Generator gen = Generator.open(m.path(), sig, generation.config(sig), rt)) {
                    preds = GenerateCommand.generateAll(tok, gen, rows.rows(), batchSize, dataOptions.maxSourceLength,
                            output.progress());
                }
                RougeScores r = new Rouge().corpus(refs, preds);
                o.put("rouge1", r.rouge1().f1());
                o.put("rouge2", r.rouge2().f1());
                o.put("rougeL", r.rougeL().f1());
            }
        }
        output.result("%s", Json.builder().setPrettyPrinting().create().toJson(o));

        outputs.write(o, model, adapter, data).forEach(f -> output.info("wrote %s", f));
        return 0;
    }
}
