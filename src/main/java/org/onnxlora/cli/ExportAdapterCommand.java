package org.onnxlora.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.interop.AdapterFiles;
import org.onnxlora.interop.OrtAdapters;
import org.onnxlora.interop.Peft;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.AdapterMerger;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.NonFinite;
import org.onnxlora.lora.PatchedAdapters;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

@Command(name = "export-adapter", mixinStandardHelpOptions = true,
        description = {
            "Write trained adapters in a format other tools load.",
            "",
            "--format peft: a Hugging Face PEFT folder (adapter_config.json + adapter_model.safetensors) that",
            "  PeftModel.from_pretrained(model, DIR) loads onto the PyTorch model the ONNX export came from. Keys are",
            "  base_model.model.<module path>.lora_A.weight [r,in] and .lora_B.weight [out,r]; r, lora_alpha,",
            "  target_modules, rank_pattern/alpha_pattern (where modules differ), use_rslora and",
            "  task_type SEQ_2_SEQ_LM are set so PEFT computes exactly what onnx-lora's merged model does.",
            "--format onnx-adapter: ONNX Runtime's LoRA adapter file DIR/NAME.onnx_adapter plus DIR/model.onnx, an",
            "  inference model whose LoRA tensors are overridable initializers (B = 0 by default: without an",
            "  active adapter it is the base model). Load the file with OrtLoraAdapter and activate it per run with",
            "  RunOptions.addActiveLoraAdapter (ONNX Runtime >= 1.20): one session serves many adapters, of any rank.",
            "",
            "--adapter is a train run folder (its latest checkpoint), a checkpoint folder, an adapters .safetensors,",
            "a patched .onnx (its stored values) or a PEFT folder. Rank and alpha come from the patched model",
            "(--model, or RUN/model.onnx); with a PEFT folder, --model may be the base model."},
        footer = {"", "Examples:",
            "  onnx-lora export-adapter --adapter run1 --model run1/model.onnx --format peft --out run1-peft",
            "  onnx-lora export-adapter --adapter run1 --format onnx-adapter --out serving --name summarize",
            "  onnx-lora export-adapter --adapter peft-dir --model model.onnx --format onnx-adapter --out serving"})
final class ExportAdapterCommand extends BaseCommand {
    @Option(names = "--adapter", required = true, paramLabel = "RUN|DIR|FILE", description = "The adapters to export.")
    Path adapter;

    @Option(names = "--model", paramLabel = "FILE|DIR",
            description = "The patched model the adapters belong to (default: RUN/model.onnx of the run).")
    Path model;

    @Option(names = "--format", required = true, paramLabel = "peft|onnx-adapter", description = "Output format.")
    String format;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder.")
    Path out;

    @Option(names = "--name", defaultValue = "adapter",
            description = "File name of the .onnx_adapter file, without extension (default: ${DEFAULT-VALUE}).")
    String name;

    @Option(names = "--base-model", paramLabel = "NAME",
            description = "base_model_name_or_path written to adapter_config.json (e.g. facebook/bart-base).")
    String baseModel;

    @Option(names = "--force", description = "Overwrite --out if it exists.")
    boolean force;

    @Option(names = "--family", paramLabel = "FILE", description = "Model-family description (default: built-in bart).")
    Path family;

    @Option(names = "--allow-nonfinite",
            description = "Export adapters holding NaN or infinite values (a diverged run's); refused by default.")
    boolean allowNonfinite;

    @Override
    int execute() {
        String fmt = format.toLowerCase(Locale.ROOT);
        if (!fmt.equals("peft") && !fmt.equals("onnx-adapter")) {
            throw new ParameterException(spec.commandLine(), "--format must be peft or onnx-adapter, got '" + format + "'");
        }
        Flags.fileName("--name", name);
        ModelFamily fam = family == null ? ModelFamily.bart() : ModelFamily.load(family);
        Path m = model != null ? model : AdapterFiles.runModelOf(adapter);
        if (m == null && adapter.getFileName().toString().endsWith(".onnx")) {
            m = adapter;
        }
        OutputGuard.check(out, OutputGuard.Kind.FOLDER, force, org.onnxlora.api.TrainingRun.inputsOf(adapter, m, family));
        Adapter a = load(m, fam);
        if (!allowNonfinite) {
            NonFinite.in(a).ifPresent(f -> {
                throw new OnnxLoraException(ErrorCode.DIVERGED, a.origin() + ": adapter " + f.describe()
                        + "; a model using it would compute NaN (--allow-nonfinite exports it anyway)");
            });
        }
        if (fmt.equals("peft")) {
            var paths = m == null ? a.modules().keySet() : AdapterMerger.knownModules(m, fam).keySet();
            Peft.write(a, paths, out, baseModel);
            output.result("exported %d adapters (PEFT) -> %s", a.modules().size(), out);
            return 0;
        }
        if (m == null) {
            throw new ParameterException(spec.commandLine(), "--format onnx-adapter needs --model (the patched or"
                    + " base model the adapter runs on)");
        }
        OrtAdapters.Exported e = OrtAdapters.export(a, m, fam, out, name);
        output.info("switchable model: %s", e.model());
        output.result("exported %d adapters (%,d bytes of parameters) -> %s", e.modules().size(), e.parameterBytes(),
                e.adapter());
        return 0;
    }

    private Adapter load(Path m, ModelFamily fam) {
        if (Peft.isPeftDir(adapter) || adapter.getFileName().toString().endsWith(".onnx")) {
            return AdapterFiles.load(adapter, null, fam);
        }
        if (m == null) {
            throw new ParameterException(spec.commandLine(), "cannot tell which patched model " + adapter
                    + " belongs to: pass --model");
        }
        if (!Files.exists(adapter)) {
            throw new OnnxLoraException(ErrorCode.IO, "adapter " + adapter + " does not exist");
        }
        return PatchedAdapters.read(m, org.onnxlora.api.TrainingRun.adapters(adapter), "adapter " + adapter);
    }
}
