import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.Json;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.Float64Probe;
import org.onnxlora.train.GradientProbe;

/**
 * Each device's float32 step against the exact one (issue 11's CPU-vs-CUDA parity, measured against float64
 * instead of against each other): for every state in STEPS (a step-N.safetensors that LockstepParity dumped, or a
 * folder of them), the float64 loss and mean-loss gradients ({@link Float64Probe}) and, for each DEVICE, the float32
 * step's relative errors from them: loss, gradient norm, gradient as one vector, and the adapter farthest off.
 *
 *   run.sh Float64Parity ARTIFACTS STEPS DEVICE... (e.g. cpu cuda)
 *
 * Prints one JSON line per state and a summary line per device with the maxima. The float64 reference runs on the
 * CPU with 4 threads; the float32 CPU step with 4 threads, as LockstepParity's.
 */
public final class Float64Parity {
    public static void main(String[] args) {
        if (args.length < 3) {
            System.err.println("usage: Float64Parity ARTIFACTS STEP_FILE_OR_DIR DEVICE...");
            System.exit(2);
        }
        try {
            run(Path.of(args[0]), states(Path.of(args[1])), List.of(args).subList(2, args.length));
        } catch (OnnxLoraException e) {
            System.err.println("Float64Parity: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(Path artifacts, List<Path> states, List<String> devices) {
        Map<String, double[]> max = new LinkedHashMap<>();
        devices.forEach(d -> max.put(d, new double[4]));
        try (Float64Probe exact = Float64Probe.open(artifacts, 4)) {
            for (Path state : states) {
                Float64Probe.Result ref = exact.gradients(state);
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("state", state.getFileName().toString());
                row.put("tokens", ref.tokens());
                row.put("loss_f64", ref.meanLoss());
                row.put("grad_norm_f64", ref.gradNorm());
                for (String d : devices) {
                    RuntimeOptions o = RuntimeOptions.defaults().withDevice(Device.parse(d)).withThreads(4);
                    GradientProbe.Result r = GradientProbe.run(artifacts, o, state);
                    Float64Probe.Deviation dev = ref.deviation(r.meanLoss(), r.gradients());
                    Map<String, Object> cell = new LinkedHashMap<>();
                    cell.put("rel_loss", dev.loss());
                    cell.put("rel_grad_norm", dev.gradNorm());
                    cell.put("rel_grad", dev.gradient());
                    cell.put("worst_adapter", dev.worstAdapter());
                    cell.put("worst_rel", dev.worst());
                    row.put(d, cell);
                    double[] m = max.get(d);
                    m[0] = Math.max(m[0], dev.loss());
                    m[1] = Math.max(m[1], dev.gradNorm());
                    m[2] = Math.max(m[2], dev.gradient());
                    m[3] = Math.max(m[3], dev.worst());
                }
                System.out.println(Json.builder().create().toJson(row));
            }
        }
        for (String d : devices) {
            double[] m = max.get(d);
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("summary", d);
            s.put("states", states.size());
            s.put("max_rel_loss", m[0]);
            s.put("max_rel_grad_norm", m[1]);
            s.put("max_rel_grad", m[2]);
            s.put("max_worst_adapter_rel", m[3]);
            System.out.println(Json.builder().create().toJson(s));
            System.err.printf(Locale.ROOT, "%s vs float64 over %d states: loss %.2e, grad norm %.2e, gradient %.2e,"
                    + " worst adapter %.2e%n", d, states.size(), m[0], m[1], m[2], m[3]);
        }
    }

    /** One file, or a folder's step-N.safetensors in step order. */
    private static List<Path> states(Path p) {
        if (!Files.isDirectory(p)) {
            return List.of(p);
        }
        try (Stream<Path> s = Files.list(p)) {
            List<Path> files = new ArrayList<>(s.filter(f -> f.getFileName().toString()
                    .matches("step-\\d+\\.safetensors")).toList());
            files.sort(Comparator.comparingInt(f -> Integer.parseInt(f.getFileName().toString()
                    .replaceAll("\\D", ""))));
            if (files.isEmpty()) {
                throw new OnnxLoraException(org.onnxlora.ErrorCode.BAD_ARGUMENT, p + " has no step-N.safetensors");
            }
            return files;
        } catch (IOException e) {
            throw new OnnxLoraException(org.onnxlora.ErrorCode.IO, "cannot list " + p + ": " + e.getMessage(), e);
        }
    }
}
