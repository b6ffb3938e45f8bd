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
import org.onnxlora.runtime.InputSpec;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.Checkpoint;
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
            "model, so a merged model reproduces its patched model's loss."},
        footer = {"", "Examples:",
            "  onnx-lora eval --model merged.onnx --tokenizer tokenizer.json --data valid.jsonl",
            "  onnx-lora eval --model run1/model.onnx --adapter run1 --tokenizer tokenizer.json --data valid.jsonl --no-generate"})
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

    @Override
    int execute() throws IOException {
        if (Files.isDirectory(model)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "eval needs one model file with a logits output;"
                    + " for an Optimum folder use generate");
        }
        Flags.atLeast("--batch-size", batchSize, 1);
        dataOptions.check(null);
        GenerationConfig config = generation.config();
        RuntimeOptions rt = RuntimeOptions.defaults().withThreads(threads).withDevice(Device.parse(device));
        ReaderOptions ro = dataOptions.reader();
        Map<String, Object> o = new LinkedHashMap<>();
        try (TextTokenizer tok = TextTokenizer.load(tokenizer)) {
            var proto = ModelIO.load(model);
            long vocab = InputSpec.modelVocab(proto.getGraph());
            if (vocab > 0) {
                tok.checkFits(vocab);
            }
            DataConfig dc = dataOptions.config(tok);
            Dataset ds = Dataset.load(data, ro, tok, dc, output.progress());
            Map<String, float[]> adapters = adapter == null ? Map.of() : Checkpoint.adapters(adapter);
            LossEvaluator.Result loss;
            try (AdapterOverrides ov = new AdapterOverrides(proto, adapters);
                    LossEvaluator ev = new LossEvaluator(model, ov, rt, "logits")) {
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
                        Generator gen = Generator.open(m.path(), config, rt)) {
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
        return 0;
    }
}
