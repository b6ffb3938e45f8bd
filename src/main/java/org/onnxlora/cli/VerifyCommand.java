package org.onnxlora.cli;

import java.nio.file.Path;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Json;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {
            "Run two models on the same random valid inputs in ONNX Runtime and compare every output.",
            "",
            "Inputs are fabricated from the first model's signature: token ids inside its vocabulary, attention",
            "masks padded at random, random floats for hidden states; symbolic dimensions get random sizes",
            "shared across inputs. Fails (exit 9) when the max absolute difference exceeds --tolerance.",
            "Graph optimizations are off so that both models compute the same arithmetic."},
        footer = {"", "Examples:", "  onnx-lora verify --a model.onnx --b patched.onnx --tolerance 1e-6",
            "  onnx-lora verify --a patched.onnx --b merged.onnx --samples 5 --json"})
final class VerifyCommand extends BaseCommand {
    @Option(names = "--a", required = true, paramLabel = "FILE", description = "First model.")
    Path a;

    @Option(names = "--b", required = true, paramLabel = "FILE", description = "Second model.")
    Path b;

    @Option(names = "--samples", defaultValue = "3", description = "Random input sets to try (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--tolerance", defaultValue = "1e-4", description = "Max absolute difference allowed (default: ${DEFAULT-VALUE}).")
    double tolerance;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random inputs.")
    long seed;

    @Option(names = "--json", description = "Print the report as JSON.")
    boolean json;

    @Override
    int execute() {
        Flags.atLeast("--samples", samples, 1);
        // NaN would make every comparison fail and a negative tolerance could never pass
        Flags.finiteAtLeast("--tolerance", tolerance, 0);
        Verifier.Report r = new Verifier(RuntimeOptions.defaults().withOptimize(false)).compare(a, b, samples, seed);
        boolean ok = r.maxAbs() <= tolerance;
        if (json) {
            var o = new java.util.LinkedHashMap<String, Object>();
            o.put("a", a.toString());
            o.put("b", b.toString());
            o.put("samples", samples);
            o.put("tolerance", tolerance);
            o.put("max_abs_diff", r.maxAbs());
            o.put("ok", ok);
            o.put("outputs", r.outputs());
            output.result("%s", Json.builder().setPrettyPrinting().create().toJson(o));
        } else {
            for (Verifier.OutputDiff d : r.outputs()) {
                output.result("%-28s max|a-b| %.3e  max rel %.3e  (max |value| %.3g, %,d values)", d.output(),
                        d.maxAbs(), d.maxRel(), d.maxRefAbs(), d.elements());
            }
            output.result("%s: max abs difference %.3e %s tolerance %.1e over %d samples", ok ? "OK" : "FAILED",
                    r.maxAbs(), ok ? "<=" : ">", tolerance, samples);
        }
        if (!ok) {
            throw new OnnxLoraException(ErrorCode.VERIFY_FAILED, String.format(java.util.Locale.ROOT,
                    "models differ by %.3e, more than --tolerance %.1e", r.maxAbs(), tolerance));
        }
        return 0;
    }
}
