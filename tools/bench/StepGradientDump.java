import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Json;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.GradientProbe;

/**
 * One training step's loss and adapter gradients from onnx-lora's own TrainingSession (issue 13 parity):
 * compiled ARTIFACTS (onnx-lora compile, any --precision), the goldens' adapters and batch from INPUTS
 * (tiny-bart/goldens/train_step.safetensors), on cpu or cuda; writes OUT.safetensors with
 * {@code <precision>/loss} and {@code <precision>/grad/<adapter>} (the keys of halfprec_step.safetensors)
 * and prints a one-line JSON summary. tools/gpu/half_parity.py --dump compares it with PyTorch autocast.
 *
 *   java -cp "target/classes:target/lib/*" tools/bench/StepGradientDump.java ARTIFACTS INPUTS OUT [DEVICE [THREADS]]
 *
 * The GPU bundle's Java has no compiler (jlink'd), so tools/gpu/build-bundle.sh compiles this file into the
 * bundle: {@code run.sh StepGradientDump ARTIFACTS INPUTS OUT cuda}. The logic is GradientProbe's
 * (GradientProbeTest runs it against the goldens in fp32 and fp16 on CPU).
 */
public final class StepGradientDump {
    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: StepGradientDump ARTIFACTS INPUTS.safetensors OUT.safetensors [cpu|cuda[:N] [THREADS]]");
            System.exit(2);
        }
        Device device = Device.parse(args.length > 3 ? args[3] : "cpu");
        int threads = args.length > 4 ? Integer.parseInt(args[4]) : 0;
        RuntimeOptions options = RuntimeOptions.defaults().withDevice(device).withThreads(threads);
        GradientProbe.Result r;
        try {
            r = GradientProbe.run(Path.of(args[0]), options, Path.of(args[1]));
            r.write(Path.of(args[2]));
        } catch (OnnxLoraException e) {
            System.err.println("StepGradientDump: " + e.getMessage());
            System.exit(1);
            return;
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("precision", r.precision().label());
        o.put("device", r.device());
        o.put("loss", r.meanLoss());
        o.put("tokens", r.tokens());
        o.put("loss_scale", r.lossScale());
        o.put("skipped_steps", r.skipped());
        o.put("adapters", r.gradients().size());
        o.put("out", args[2]);
        System.out.println(Json.builder().create().toJson(o));
    }
}
