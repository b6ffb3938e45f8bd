package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtSession;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.DoubleBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.data.Batch;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.NameGen;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.Tensors;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.TypeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.Fixtures;

/**
 * The float64 reference of a compiled step (tools/bench/Float64Parity.java measures every device's float32 step
 * against it). Its gradients are checked by float64 central differences of the eval graph's loss, converted the
 * same way, along random directions through all adapters at once; the float32 step of the same artifacts must
 * then sit within float32's reach of it, and PyTorch's float32 step within the goldens' bound.
 */
class Float64ProbeTest {
    static Goldens gold;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void load() throws Exception {
        gold = new Goldens();
    }

    @AfterAll
    static void close() {
        gold.close();
    }

    static Stream<Path> exporters() {
        return Fixtures.bothExporters();
    }

    static Path compile(Path model) {
        LoraConfig cfg = new LoraConfig(gold.meta.get("rank").getAsInt(), gold.meta.get("alpha").getAsDouble(),
                List.of("q_proj", "k_proj", "v_proj", "out_proj"), LoraConfig.Init.KAIMING, 0);
        ModelProto patched = new PatchPass(ModelFamily.bart()).patch(ModelIO.load(model), null, cfg,
                new AdapterInit(LoraConfig.Init.KAIMING, 7));
        TrainingCompiler.Options opts = new TrainingCompiler.Options(LossConfig.DEFAULT, gold.optimizerConfig(),
                "logits", Precision.FP32);
        Path dir = tmp.resolve(model.getFileName().toString());
        ArtifactStore.write(new TrainingCompiler().compile(patched, opts), opts, dir);
        return dir;
    }

    static Path inputs() {
        return Fixtures.goldens().resolve("train_step.safetensors");
    }

    @ParameterizedTest
    @MethodSource("exporters")
    void gradientsAreTheFloat64CentralDifferencesOfTheLoss(Path model) {
        Path dir = compile(model);
        Map<String, double[]> at = new LinkedHashMap<>();
        Batch batch;
        try (SafetensorsFile in = SafetensorsFile.open(inputs())) {
            batch = GradientProbe.batchOf(in);
        }
        try (Float64Probe p = Float64Probe.open(dir, 2)) {
            p.adapters().forEach(a -> at.put(a.name(), Tensors.toDoubles(Tensors.ofFloats(a.name(), a.dims(),
                    gold.get("init/" + a.name())))));
            Float64Probe.Result r = p.gradients(at, batch);
            assertEquals(r.meanLoss(), p.meanLoss(at, batch), 1e-13 * r.meanLoss(), "training and eval graph loss");
            Random rnd = new Random(11);
            double h = 1e-4;
            for (int k = 0; k < 3; k++) {
                Map<String, double[]> u = new LinkedHashMap<>();
                double norm = 0;
                for (Map.Entry<String, double[]> e : at.entrySet()) {
                    double[] d = new double[e.getValue().length];
                    for (int i = 0; i < d.length; i++) {
                        d[i] = rnd.nextGaussian();
                        norm += d[i] * d[i];
                    }
                    u.put(e.getKey(), d);
                }
                double projected = 0;
                for (Map.Entry<String, double[]> e : u.entrySet()) {
                    double[] d = e.getValue();
                    double[] g = r.gradients().get(e.getKey());
                    for (int i = 0; i < d.length; i++) {
                        d[i] /= Math.sqrt(norm);
                        projected += g[i] * d[i];
                    }
                }
                double central = (p.meanLoss(shifted(at, u, h), batch) - p.meanLoss(shifted(at, u, -h), batch))
                        / (2 * h);
                // O(h²) truncation against a derivative ~1e-2: ~1e-9 relative; rounding ~1e-16/h
                double rel = Math.abs(central - projected) / Math.abs(projected);
                assertTrue(rel <= 1e-6, model.getFileName() + " direction " + k + ": g·u " + projected
                        + ", central difference " + central + " (relative " + rel + ")");
            }
        }
    }

    private static Map<String, double[]> shifted(Map<String, double[]> at, Map<String, double[]> u, double h) {
        Map<String, double[]> out = new LinkedHashMap<>();
        at.forEach((name, v) -> {
            double[] d = u.get(name);
            double[] s = v.clone();
            for (int i = 0; i < s.length; i++) {
                s[i] += h * d[i];
            }
            out.put(name, s);
        });
        return out;
    }

    @Test
    void theFloat32StepAndPyTorchsAreWithinFloat32OfIt() {
        Path dir = compile(Fixtures.torchscript());
        try (Float64Probe p = Float64Probe.open(dir, 2)) {
            Float64Probe.Result exact = p.gradients(inputs());
            GradientProbe.Result f32 = GradientProbe.run(dir, RuntimeOptions.defaults().withThreads(2), inputs());
            Float64Probe.Deviation d = exact.deviation(f32.meanLoss(), f32.gradients());
            assertTrue(d.loss() <= 1e-6 && d.gradNorm() <= 1e-5 && d.gradient() <= 1e-5, d.toString());
            Map<String, float[]> torch = new LinkedHashMap<>();
            gold.adapters.forEach(a -> torch.put(a, gold.get("step1/grad/" + a)));
            Float64Probe.Deviation t = exact.deviation(gold.step(1).get("loss").getAsDouble(), torch);
            assertTrue(t.loss() <= 1e-5 && t.gradient() <= 1e-4, "PyTorch float32: " + t);
            Path out = tmp.resolve("f64.safetensors");
            exact.write(out);
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                assertEquals(exact.meanLoss(), f.doubles("float64/loss")[0]);
                assertEquals(exact.gradients().size() + 1, f.names().size());
            }
        }
    }

    @Test
    void theParityToolsTheGpuPhaseRunsCompileAndMeasureTheCpuStep() throws Exception {
        // the bundle compiles the first two (tools/gpu/build-bundle.sh): broken, they would fail only on the GPU
        Path classes = tmp.resolve("tool-classes");
        Files.createDirectories(classes);
        String cp = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(e -> e.endsWith("classes") || e.contains("gson") || e.contains("protobuf")
                        || e.contains("onnxruntime"))
                .collect(Collectors.joining(File.pathSeparator));
        int rc = ToolProvider.getSystemJavaCompiler().run(null, null, null, "--release", "17", "-cp", cp,
                "-d", classes.toString(), Path.of("tools", "bench", "Float64Parity.java").toString(),
                Path.of("tools", "bench", "LockstepParity.java").toString(),
                Path.of("tools", "bench", "Float64Islands.java").toString());
        assertEquals(0, rc, "javac tools/bench/Float64Parity.java LockstepParity.java Float64Islands.java");
        Path dir = compile(Fixtures.torchscript());
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream out = System.out;
        try (URLClassLoader l = new URLClassLoader(new URL[] {classes.toUri().toURL()},
                getClass().getClassLoader())) {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            l.loadClass("Float64Parity").getMethod("main", String[].class).invoke(null, (Object) new String[] {
                dir.toString(), inputs().toString(), "cpu"});
        } finally {
            System.setOut(out);
        }
        String[] lines = captured.toString(StandardCharsets.UTF_8).strip().split("\n");
        assertEquals(2, lines.length, captured.toString());
        JsonObject summary = JsonParser.parseString(lines[1]).getAsJsonObject();
        assertEquals("cpu", summary.get("summary").getAsString());
        double rel = summary.get("max_rel_grad").getAsDouble();
        assertTrue(rel > 0 && rel <= 1e-5, lines[1]);
    }

    /** erf's series against libm's erf (Python's math.erf), clipping past ±6 included. */
    @Test
    void erfIsDoublePrecise() throws Exception {
        double[] x = {0, 1e-3, -0.5, 1, 1.5, -2, 3, 4.5, 5.9, 7, -30};
        double[] erf = {0, 1.1283787909692365e-3, -0.5204998778130465, 0.8427007929497149, 0.9661051464753108,
            -0.9953222650189527, 0.9999779095030014, 0.9999999998033839, 0.9999999999999999, 1, -1};
        GraphBuilder b = new GraphBuilder(new NameGen(Set.of("x", "y")));
        b.add("", "Erf", "erf", List.of("x"), List.of("y"));
        GraphProto g = GraphProto.newBuilder().addAllNode(b.nodes()).addInput(vector("x", x.length, 1))
                .addOutput(vector("y", x.length, 1)).build();
        ModelProto m = Float64Probe.toFloat64(model(g));
        try (OrtSession s = Sessions.create(m, RuntimeOptions.defaults().withThreads(1).withOptimize(false), "erf");
                OnnxTensor in = OnnxTensor.createTensor(Sessions.env(), DoubleBuffer.wrap(x), new long[] {x.length});
                OrtSession.Result r = s.run(Map.of("x", in))) {
            double[] y = new double[x.length];
            ((OnnxTensor) r.get(0)).getDoubleBuffer().get(y);
            for (int i = 0; i < x.length; i++) {
                // e^{−x²} turns the rounding of x² into a relative error of x²·ulp: ~4e-15 near the clip
                double c = Math.min(Math.abs(x[i]), Float64Pass.ERF_CLIP);
                assertEquals(erf[i], y[i], 4e-16 * (1 + 2 * c * c) * Math.abs(erf[i]), "erf(" + x[i] + ")");
            }
        }
    }

    @Test
    void halfPrecisionAndUnknownContribOpsAreRefusedNamingTheNode() {
        NodeProto cast = NodeProto.newBuilder().setOpType("Cast").setName("to_half").addInput("x").addOutput("y")
                .addAttribute(Attrs.i("to", TensorProto.DataType.FLOAT16_VALUE)).build();
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Float64Probe.toFloat64(model(graph(cast))));
        assertEquals(ErrorCode.UNSUPPORTED_MODEL, e.code());
        assertTrue(e.getMessage().contains("to_half") && e.getMessage().contains("float16"), e.getMessage());
        NodeProto fast = NodeProto.newBuilder().setOpType("FastGelu").setDomain(GraphBuilder.MS_DOMAIN)
                .setName("fast").addInput("x").addOutput("y").build();
        e = assertThrows(OnnxLoraException.class, () -> Float64Probe.toFloat64(model(graph(fast))));
        assertTrue(e.getMessage().contains("fast") && e.getMessage().contains("FastGelu"), e.getMessage());
    }

    private static GraphProto graph(NodeProto n) {
        return GraphProto.newBuilder().addNode(n).addInput(vector("x", 4, 1)).addOutput(vector("y", 4, 1)).build();
    }

    private static ModelProto model(GraphProto g) {
        return ModelProto.newBuilder().setIrVersion(8).setGraph(g.toBuilder().setName("g"))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(GraphBuilder.MS_DOMAIN).setVersion(1))
                .build();
    }

    private static ValueInfoProto vector(String name, long n, int elemType) {
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(elemType).setShape(TensorShapeProto.newBuilder()
                        .addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(n))))).build();
    }
}
