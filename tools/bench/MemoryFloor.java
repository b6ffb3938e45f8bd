import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.ValueInfos;
import org.onnxlora.io.Json;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.OperatorSetIdProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.GpuMemory;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * Where a CUDA process's GPU memory goes before any model: ONNX Runtime's fixed costs, stage by stage
 * (issues 11 and 13, whose memory targets compare whole processes with PyTorch's). Each stage opens one
 * single-op session with the product's own settings ({@link Sessions#options}, {@code --gpu-memory} as given)
 * and runs it once on bart-base-sized tensors, then reads the device's memory in use from nvidia-smi; the
 * stages add up, so each row's delta is what that kind of kernel or session costs the first time:
 * the CUDA context and the provider, cuBLAS (fp32 and bf16 products), the reductions and softmax kernels,
 * LayerNormalization, and one more session of the same provider (what the optimizer's session costs next to
 * the training graph's). {@code tools/gpu/torch_floor.py} measures PyTorch's side the same way.
 *
 *   run.sh MemoryFloor [cuda[:N] [lean|fast]]      (the GPU bundle; prints one JSON object)
 */
public final class MemoryFloor {
    private static final int FLOAT = TensorProto.DataType.FLOAT_VALUE;
    private static final int BF16 = TensorProto.DataType.BFLOAT16_VALUE;

    public static void main(String[] args) throws Exception {
        Device device = Device.parse(args.length > 0 ? args[0] : "cuda");
        GpuMemory memory = GpuMemory.parse(args.length > 1 ? args[1] : "auto");
        RuntimeOptions options = RuntimeOptions.defaults().withDevice(device).withThreads(1).withGpuMemory(memory);
        List<Map<String, Object>> stages = new ArrayList<>();
        gpu = device.index();
        long base = deviceUsedMiB();
        stage(stages, "before ONNX Runtime", base, base);
        List<OrtSession> open = new ArrayList<>();
        try {
            run(open, options, stages, base, "first session: Identity [1]", single("Identity", List.of(1L)),
                    Map.of("x", new long[] {1}));
            run(open, options, stages, base, "MatMul fp32 [4096,768]x[768,768] (cuBLAS)", matmul(FLOAT),
                    Map.of("x", new long[] {4096, 768}, "w", new long[] {768, 768}));
            if (device.kind() == Device.Kind.CUDA) { // the CPU provider has no bf16 MatMul
                run(open, options, stages, base, "MatMul bf16 (cuBLAS, tensor cores)", matmul(BF16),
                        Map.of("x", new long[] {4096, 768}, "w", new long[] {768, 768}));
            }
            run(open, options, stages, base, "ReduceSum over the last axis [4096,768]", reduce("ReduceSum", -1),
                    Map.of("x", new long[] {4096, 768}));
            run(open, options, stages, base, "ReduceSum over the first axis [4096,768]", reduce("ReduceSum", 0),
                    Map.of("x", new long[] {4096, 768}));
            run(open, options, stages, base, "Softmax [1024,50265]", single("Softmax", List.of(1024L, 50265L)),
                    Map.of("x", new long[] {1024, 50265}));
            run(open, options, stages, base, "LayerNormalization [4096,768]", layerNorm(),
                    Map.of("x", new long[] {4096, 768}));
            run(open, options, stages, base, "one more session: Identity [1]", single("Identity", List.of(1L)),
                    Map.of("x", new long[] {1}));
            run(open, options, stages, base, "one more session: MatMul fp32", matmul(FLOAT),
                    Map.of("x", new long[] {4096, 768}, "w", new long[] {768, 768}));
        } finally {
            for (OrtSession s : open) {
                s.close();
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("device", device.toString());
        out.put("gpu_memory", memory.label());
        out.put("stages", stages);
        System.out.println(Json.builder().setPrettyPrinting().create().toJson(out));
    }

    private static void run(List<OrtSession> open, RuntimeOptions options, List<Map<String, Object>> stages, long base,
            String what, ModelProto model, Map<String, long[]> inputs) throws OrtException, IOException {
        OrtSession s = Sessions.create(model, options, what);
        open.add(s);
        Map<String, OnnxTensor> feeds = new HashMap<>();
        try {
            for (var e : inputs.entrySet()) {
                long n = 1;
                for (long d : e.getValue()) {
                    n *= d;
                }
                FloatBuffer b = ByteBuffer.allocateDirect((int) n * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
                for (int i = 0; i < n; i++) {
                    b.put(i, (float) Math.sin(i) * 0.1f);
                }
                feeds.put(e.getKey(), OnnxTensor.createTensor(Sessions.env(), b, e.getValue()));
            }
            try (OrtSession.Result r = s.run(feeds)) {
                r.get(0);
            }
        } finally {
            feeds.values().forEach(OnnxTensor::close);
        }
        long prev = ((Number) stages.get(stages.size() - 1).get("used_mib")).longValue();
        stage(stages, what, base, prev);
    }

    private static void stage(List<Map<String, Object>> stages, String what, long base, long prev) throws IOException {
        long used = stages.isEmpty() ? base : deviceUsedMiB();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("stage", what);
        m.put("used_mib", used);
        m.put("over_start_mib", used - base);
        m.put("delta_mib", used - prev);
        stages.add(m);
        System.err.printf("%-48s %6d MiB  (+%d)%n", what, used - base, used - prev);
    }

    /** The device's memory in use, MiB (the lent machine runs nothing else, so its change is this process's). */
    private static long deviceUsedMiB() throws IOException {
        Process p = new ProcessBuilder("nvidia-smi", "-i", Integer.toString(gpu), "--query-gpu=memory.used",
                "--format=csv,noheader,nounits").redirectErrorStream(true).start();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line = r.readLine();
            p.waitFor();
            return Long.parseLong(line.trim());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } catch (NumberFormatException | NullPointerException e) {
            throw new IOException("nvidia-smi did not report memory.used", e);
        }
    }

    /** The GPU whose memory is read. */
    private static int gpu;

    private static ModelProto matmul(int type) {
        List<NodeProto> nodes = new ArrayList<>();
        String x = "x";
        String w = "w";
        if (type != FLOAT) {
            nodes.add(node("Cast", List.of("x"), "xc", Attrs.i("to", type)));
            nodes.add(node("Cast", List.of("w"), "wc", Attrs.i("to", type)));
            x = "xc";
            w = "wc";
        }
        nodes.add(node("MatMul", List.of(x, w), type == FLOAT ? "y" : "yc"));
        if (type != FLOAT) {
            nodes.add(node("Cast", List.of("yc"), "y", Attrs.i("to", FLOAT)));
        }
        return model(nodes, List.of(input("x", 4096, 768), input("w", 768, 768)), 4096, 768);
    }

    private static ModelProto reduce(String op, long axis) {
        NodeProto n = node(op, List.of("x", "axes"), "y", Attrs.i("keepdims", 1));
        TensorProto axes = Tensors.ofLongs("axes", new long[] {1}, axis);
        ModelProto m = model(List.of(n), List.of(input("x", 4096, 768)), axis == 0 ? 1 : 4096, axis == 0 ? 768 : 1);
        return m.toBuilder().setGraph(m.getGraph().toBuilder().addInitializer(axes)).build();
    }

    private static ModelProto layerNorm() {
        float[] one = new float[768];
        java.util.Arrays.fill(one, 1f);
        TensorProto scale = Tensors.ofFloats("scale", new long[] {768}, one);
        TensorProto bias = Tensors.ofFloats("bias", new long[] {768}, one);
        NodeProto n = node("LayerNormalization", List.of("x", "scale", "bias"), "y", Attrs.i("axis", -1));
        ModelProto m = model(List.of(n), List.of(input("x", 4096, 768)), 4096, 768);
        return m.toBuilder().setGraph(m.getGraph().toBuilder().addInitializer(scale).addInitializer(bias)).build();
    }

    private static ModelProto single(String op, List<Long> dims) {
        long[] d = dims.stream().mapToLong(Long::longValue).toArray();
        return model(List.of(node(op, List.of("x"), "y")), List.of(input("x", d)), d);
    }

    private static NodeProto node(String op, List<String> in, String out, AttributeProto... attrs) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(op + "_" + out).addAllInput(in).addOutput(out);
        for (AttributeProto a : attrs) {
            b.addAttribute(a);
        }
        return b.build();
    }

    private static ValueInfoProto input(String name, long... dims) {
        return ValueInfos.tensor(name, FLOAT, java.util.Arrays.stream(dims).boxed().toArray());
    }

    private static ModelProto model(List<NodeProto> nodes, List<ValueInfoProto> inputs, long... outDims) {
        GraphProto g = GraphProto.newBuilder().setName("floor").addAllNode(nodes).addAllInput(inputs)
                .addOutput(input("y", outDims)).build();
        return ModelProto.newBuilder().setIrVersion(8).addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(18))
                .setGraph(g).build();
    }
}
