import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Progress;
import org.onnxlora.data.Batch;
import org.onnxlora.data.BatchSource;
import org.onnxlora.data.Batcher;
import org.onnxlora.data.DataConfig;
import org.onnxlora.data.DataPosition;
import org.onnxlora.data.Dataset;
import org.onnxlora.data.ReaderOptions;
import org.onnxlora.data.TextTokenizer;
import org.onnxlora.io.Json;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.HfModelConfig;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.train.AdapterSpec;
import org.onnxlora.train.TrainingSession;

/**
 * CPU-vs-CUDA parity per step along one trajectory (issue 11's "≤ 1e-6 relative per step"): the CPU session trains
 * on the run's batches, and before every step the CUDA session is given the CPU's adapters, moments and step count,
 * so both devices take each step from the same state on the same batch. Comparing two free-running runs instead
 * (the phase {@code exports}) measures how far the trajectories have drifted apart, which Adam amplifies wherever
 * a gradient is close to zero, not what one step computes.
 *
 * <p>RUN is a {@code train} run folder: its {@code artifacts/} are stepped, and its model's config.json gives the
 * decoder start token. Batches come from DATA as {@code train} makes them (seed 42, the given batch size and
 * maximum lengths).
 * Prints one JSON line per step and a last line with the maxima and the first step past 1e-6.
 *
 *   run.sh LockstepParity RUN TOKENIZER DATA STEPS BATCH SOURCE_LEN TARGET_LEN LR [CPU_THREADS [DEVICE [DUMP_DIR]]]
 *
 * DEVICE (default cuda) is the device checked against the CPU; {@code cpu} checks the tool itself (all zeros).
 * With DUMP_DIR, the state before every step and its batch are written as {@code step-N.safetensors} in
 * GradientProbe's layout ({@code init/<adapter>}, {@code batch/<input>}), for StepGradientDump on either device and
 * for a float64 reference of that one step.
 */
public final class LockstepParity {
    static final double TOLERANCE = 1e-6;

    public static void main(String[] args) {
        if (args.length < 8) {
            System.err.println("usage: LockstepParity RUN TOKENIZER DATA STEPS BATCH SOURCE_LEN TARGET_LEN LR"
                    + " [CPU_THREADS [DEVICE [DUMP_DIR]]]");
            System.exit(2);
        }
        try {
            run(args);
        } catch (OnnxLoraException e) {
            System.err.println("LockstepParity: " + e.getMessage());
            System.exit(1);
        }
    }

    private static void run(String[] a) {
        Path runDir = Path.of(a[0]);
        Path artifacts = runDir.resolve("artifacts");
        int steps = Integer.parseInt(a[3]);
        int batchSize = Integer.parseInt(a[4]);
        double lr = Double.parseDouble(a[7]);
        int threads = a.length > 8 ? Integer.parseInt(a[8]) : 4;
        RuntimeOptions cpuOptions = RuntimeOptions.defaults().withDevice(Device.parse("cpu")).withThreads(threads);
        RuntimeOptions cudaOptions = RuntimeOptions.defaults()
                .withDevice(Device.parse(a.length > 9 ? a[9] : "cuda"));
        double maxLoss = 0;
        double maxNorm = 0;
        long firstPast = -1;
        try (TrainingSession cpu = new TrainingSession(artifacts, cpuOptions, TrainingSession.StepMode.FUSED);
                TrainingSession cuda = new TrainingSession(artifacts, cudaOptions, TrainingSession.StepMode.FUSED)) {
            BatchSource source = batches(a, decoderStart(runDir, cpu), batchSize);
            for (int i = 1; i <= steps; i++) {
                cuda.setState(cpu.step(), state(cpu, Kind.PARAMS), state(cpu, Kind.M), state(cpu, Kind.V));
                Batch b = source.next();
                if (a.length > 10) {
                    dump(Path.of(a[10]).resolve("step-" + i + ".safetensors"), cpu, b);
                }
                TrainingSession.Step c = cpu.step(b, lr);
                TrainingSession.Step g = cuda.step(b, lr);
                double dl = relative(g.pass().meanLoss(), c.pass().meanLoss());
                double dn = relative(g.gradNorm(), c.gradNorm());
                maxLoss = Math.max(maxLoss, dl);
                maxNorm = Math.max(maxNorm, dn);
                if (firstPast < 0 && Math.max(dl, dn) > TOLERANCE) {
                    firstPast = i;
                }
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("step", i);
                row.put("shape", b.size() + "x" + b.sourceLength() + "+" + b.targetLength());
                row.put("tokens", c.pass().tokens());
                row.put("loss_cpu", c.pass().meanLoss());
                row.put("loss_cuda", g.pass().meanLoss());
                row.put("grad_norm_cpu", c.gradNorm());
                row.put("grad_norm_cuda", g.gradNorm());
                row.put("rel_loss", dl);
                row.put("rel_grad_norm", dn);
                System.out.println(Json.builder().create().toJson(row));
            }
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("summary", artifacts.toString());
        summary.put("steps", steps);
        summary.put("max_rel_loss", maxLoss);
        summary.put("max_rel_grad_norm", maxNorm);
        summary.put("first_step_past", firstPast < 0 ? "none" : Long.toString(firstPast));
        System.out.println(Json.builder().create().toJson(summary));
        System.err.printf(Locale.ROOT, "%s: %d steps, max relative loss %.2e, grad norm %.2e, first past %s%n",
                artifacts, steps, maxLoss, maxNorm, summary.get("first_step_past"));
    }

    /** As train takes it: the run's config.json (a single file's or an Optimum folder's), else the family default. */
    private static long decoderStart(Path runDir, TrainingSession session) {
        Path single = runDir.resolve("model.onnx");
        Path model = Files.isRegularFile(single) ? single : runDir.resolve("model");
        return HfModelConfig.besides(model).flatMap(c -> c.decoderStartTokenId().isPresent()
                ? java.util.Optional.of(c.decoderStartTokenId().getAsLong()) : java.util.Optional.empty())
                .orElse(session.signature().decoderStartTokenId());
    }

    private static BatchSource batches(String[] a, long decoderStart, int batchSize) {
        try (TextTokenizer tok = TextTokenizer.load(Path.of(a[1]))) {
            DataConfig dc = DataConfig.forTokenizer(tok).withMaxLengths(Integer.parseInt(a[5]), Integer.parseInt(a[6]))
                    .withDecoderStartTokenId(Math.toIntExact(decoderStart));
            Dataset data = Dataset.load(Path.of(a[2]), ReaderOptions.DEFAULT, tok, dc, Progress.NONE);
            return new Batcher(data.examples(), batchSize, 42, dc).source(DataPosition.START);
        }
    }

    private static void dump(Path file, TrainingSession s, Batch b) {
        SafetensorsWriter w = new SafetensorsWriter().metadata("by", "LockstepParity");
        for (AdapterSpec spec : s.adapters()) {
            w.putFloats("init/" + spec.name(), spec.dims(), s.adapter(spec.name()));
        }
        long[] src = {b.size(), b.sourceLength()};
        long[] tgt = {b.size(), b.targetLength()};
        w.putLongs("batch/input_ids", src, b.inputIds()).putLongs("batch/attention_mask", src, b.attentionMask())
                .putLongs("batch/decoder_input_ids", tgt, b.decoderInputIds())
                .putLongs("batch/labels", tgt, b.labels());
        w.write(file);
    }

    private enum Kind { PARAMS, M, V }

    private static AdapterValues state(TrainingSession s, Kind kind) {
        Map<String, float[]> out = new LinkedHashMap<>();
        List<AdapterSpec> specs = s.adapters();
        for (AdapterSpec spec : specs) {
            out.put(spec.name(), switch (kind) {
                case PARAMS -> s.adapter(spec.name());
                case M -> s.expAvg(spec.name());
                case V -> s.expAvgSq(spec.name());
            });
        }
        return AdapterValues.of(out);
    }

    private static double relative(double x, double reference) {
        return reference == 0 ? Math.abs(x) : Math.abs(x - reference) / Math.abs(reference);
    }
}
