package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.List;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.report.HtmlReport;
import org.onnxlora.report.RunLoader;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "report", mixinStandardHelpOptions = true,
        description = {
            "Write one self-contained HTML page about one or more training runs, and a PNG of its loss chart.",
            "",
            "The page overlays the runs' curves (training and validation loss, learning rate, gradient norm,",
            "tokens/s, one point per logged step, from RUN/metrics.jsonl), lays their settings side by side with",
            "the differing ones highlighted (from RUN/run.json and the LoRA shape in RUN/model.onnx), and shows",
            "their final metrics (RUN/summary.json) and attached eval results (RUN/eval/*.json, from eval --run).",
            "It needs no network: no script, style or font is fetched.",
            "",
            "A run still training or killed is shown with what it has; what is missing (no summary.json, an",
            "empty metrics.jsonl, a last line cut off mid-write) is named on the page and on stderr.",
            "TensorBoard reads the same runs live: tensorboard --logdir RUN/tb (or a folder of runs)."},
        footer = {"", "Examples:",
            "  onnx-lora report run1 --out run1.html                  # also writes run1.png",
            "  onnx-lora report r8 r16 --out ranks.html --png ranks-loss.png",
            "  onnx-lora eval --model r8/model.onnx --run r8 --tokenizer tokenizer.json --data test.jsonl",
            "  onnx-lora report runs/* --out all.html --force"})
final class ReportCommand extends BaseCommand {
    @Parameters(arity = "1..*", paramLabel = "RUN", description = "Run folders (train --out).")
    List<Path> runs;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The HTML report.")
    Path out;

    @Option(names = "--png", paramLabel = "FILE", description = "The loss chart as PNG (default: --out with .png).")
    Path png;

    @Option(names = "--force", description = "Overwrite existing --out / --png files.")
    boolean force;

    @Override
    int execute() {
        Path image = png != null ? png : siblingPng(out);
        Path[] inputs = runs.toArray(Path[]::new);
        OutputGuard.check(out, force, inputs);
        OutputGuard.check(image, force, inputs);
        HtmlReport report = new HtmlReport(RunLoader.loadAll(runs));
        report.notices().forEach(n -> output.info("warning: %s", n));
        report.writeHtml(out);
        report.writePng(image);
        output.result("%s", out);
        output.result("%s", image);
        return 0;
    }

    private static Path siblingPng(Path html) {
        String n = html.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return html.resolveSibling((dot > 0 ? n.substring(0, dot) : n) + ".png");
    }
}
