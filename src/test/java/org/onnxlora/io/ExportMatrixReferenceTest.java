package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.gson.JsonObject;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;
import org.onnxlora.testing.ExportMatrix;
import org.onnxlora.testing.ExportMatrix.Fixture;
import org.onnxlora.testing.ExportMatrix.Signature;
import org.onnxlora.testing.ExportMatrix.Value;

/**
 * Every export of the matrix (models/exports, tools/make_export_matrix.py), loaded with {@link ModelIO} and run
 * in ONNX Runtime from Java, gives PyTorch's outputs on its reference batch, and declares the inputs and outputs
 * the manifest says: the matrix tests of the other stages can then trust both.
 */
class ExportMatrixReferenceTest {
    static final RuntimeOptions OPTIONS = RuntimeOptions.defaults().withThreads(2);
    static final double FP32_TOLERANCE = 1e-4;
    /** fp16 exports: relative to the largest |logit| of the reference. */
    static final double FP16_RELATIVE_TOLERANCE = 1e-2;

    static java.util.stream.Stream<Fixture> fixtures() {
        return ExportMatrix.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void declaresTheManifestsInputsAndOutputs(Fixture f) {
        for (Signature s : f.parts().values()) {
            ModelProto model = ModelIO.load(s.file());
            assertEquals(s.inputs(), graphInputs(model.getGraph()), s.file() + ": inputs");
            assertEquals(s.outputs(), values(model.getGraph().getOutputList()), s.file() + ": outputs");
            assertEquals(s.opset(), opset(model), s.file() + ": opset");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void ortGivesThePyTorchReference(Fixture f) throws OrtException {
        OrtEnvironment env = Sessions.env();
        try (SafetensorsFile ref = SafetensorsFile.open(f.reference()); Feeds feeds = new Feeds(env, ref)) {
            if (f.layout() == ExportMatrix.Layout.OPTIMUM) {
                checkOptimum(f, ref, feeds);
                return;
            }
            Signature sig = f.signature();
            try (OrtSession s = Sessions.create(ModelIO.load(sig.file()), OPTIONS, sig.file().toString());
                    OrtSession.Result r = s.run(feeds.of(names(sig.inputs())))) {
                for (Value out : sig.outputs()) {
                    String key = "output/" + out.name();
                    assertTrue(ref.contains(key), f.reference() + " has no " + key);
                    assertClose(f, out.name(), ref.floats(key), floats(r, out.name()));
                }
            }
        }
    }

    /** encoder_model then decoder_model gives the logits; decoder_with_past, fed decoder_model's presents, the last step. */
    private static void checkOptimum(Fixture f, SafetensorsFile ref, Feeds feeds) throws OrtException {
        float[] want = ref.floats("output/logits");
        long[] dec = ref.longs("input/decoder_input_ids");
        long[] decShape = ref.shape("input/decoder_input_ids");
        int batch = (int) decShape[0];
        int t = (int) decShape[1];
        try (OrtSession enc = session(f, "encoder_model"); OrtSession decoder = session(f, "decoder_model");
                OrtSession.Result hidden = enc.run(feeds.of(List.of("input_ids", "attention_mask")))) {
            OnnxTensor h = (OnnxTensor) hidden.get("last_hidden_state").orElseThrow();
            try (OnnxTensor full = feeds.ids(dec, batch, t);
                    OrtSession.Result r = decoder.run(Map.<String, OnnxTensor>of("input_ids", full,
                            "encoder_attention_mask", feeds.get("attention_mask"), "encoder_hidden_states", h))) {
                assertClose(f, "decoder_model logits", want, floats(r, "logits"));
            }
            if (!f.parts().containsKey("decoder_with_past_model")) {
                return;
            }
            try (OrtSession withPast = session(f, "decoder_with_past_model");
                    OnnxTensor prefixIds = feeds.ids(columns(dec, batch, t, 0, t - 1), batch, t - 1);
                    OnnxTensor lastIds = feeds.ids(columns(dec, batch, t, t - 1, t), batch, 1);
                    OrtSession.Result prefix = decoder.run(Map.<String, OnnxTensor>of("input_ids", prefixIds,
                            "encoder_attention_mask", feeds.get("attention_mask"), "encoder_hidden_states", h))) {
                Map<String, OnnxTensor> in = new HashMap<>();
                in.put("input_ids", lastIds);
                in.put("encoder_attention_mask", feeds.get("attention_mask"));
                in.put("encoder_hidden_states", h);
                for (Map.Entry<String, OnnxValue> e : prefix) {
                    if (e.getKey().startsWith("present.")) {
                        in.put("past_key_values." + e.getKey().substring("present.".length()), (OnnxTensor) e.getValue());
                    }
                }
                try (OrtSession.Result r = withPast.run(in)) {
                    int vocab = f.vocabSize();
                    float[] last = new float[batch * vocab];
                    for (int b = 0; b < batch; b++) {
                        System.arraycopy(want, (b * t + t - 1) * vocab, last, b * vocab, vocab);
                    }
                    assertClose(f, "decoder_with_past_model logits", last, floats(r, "logits"));
                }
            }
        }
    }

    @Test
    void theMatrixHoldsEveryExportShapeOfTheIssue() {
        List<Fixture> all = ExportMatrix.fixtures();
        JsonObject errors = ExportMatrix.manifest().getAsJsonObject("errors");
        assertTrue(errors.isEmpty(), "exports that failed: " + errors.keySet());
        for (String attention : List.of("eager", "sdpa")) {
            for (String exporter : List.of("torchscript", "dynamo")) {
                for (boolean four : List.of(false, true)) {
                    requireOne(all, attention + "/" + exporter + "/" + (four ? 4 : 3) + " inputs",
                            f -> f.family().equals("bart") && f.attention().equals(attention)
                                    && f.exporter().equals(exporter) && f.fourInputs() == four && !f.isStatic()
                                    && !f.fp16() && f.layout() == ExportMatrix.Layout.SINGLE);
                }
            }
        }
        requireOne(all, "opset 14", f -> f.opset() == 14);
        requireOne(all, "opset 17", f -> f.opset() == 17);
        requireOne(all, "opset 18", f -> f.opset() == 18);
        requireOne(all, "extra outputs", f -> f.layout() == ExportMatrix.Layout.SINGLE
                && f.signature().outputs().stream().anyMatch(v -> v.name().equals("encoder_last_hidden_state")));
        requireOne(all, "static shapes", f -> f.isStatic() && f.layout() == ExportMatrix.Layout.SINGLE
                && f.signature().inputs().stream().allMatch(v -> v.shape().stream().allMatch(d -> d instanceof Long)));
        requireOne(all, "fp16", Fixture::fp16);
        requireOne(all, "Optimum folder with KV cache", f -> f.layout() == ExportMatrix.Layout.OPTIMUM
                && f.parts().keySet().containsAll(List.of("encoder_model", "decoder_model", "decoder_with_past_model")));
        requireOne(all, "mBART", f -> f.family().equals("mbart"));
        requireOne(all, "Marian starting at its pad id", f -> f.family().equals("marian")
                && f.decoderStartTokenId() == f.padTokenId());
        requireOne(all, "the bundled tiny BART with 4 inputs, TorchScript",
                f -> f.model().equals(Path.of("models", "tiny-bart", "model.4in.onnx")));
        requireOne(all, "the bundled tiny BART with 4 inputs, dynamo",
                f -> f.model().equals(Path.of("models", "tiny-bart", "model.4in.dynamo.onnx")));
        for (Fixture f : all) {
            for (Path p : f.files()) {
                assertTrue(Files.isRegularFile(p), f.name() + ": " + p + " missing");
            }
            for (Path p : f.configs()) {
                assertTrue(Files.isRegularFile(p), f.name() + ": " + p + " missing");
            }
        }
    }

    @Test
    void fourInputExportsDeclareTheDecoderMaskAndThreeInputOnesDoNot() {
        for (Fixture f : ExportMatrix.fixtures()) {
            if (f.layout() != ExportMatrix.Layout.SINGLE) {
                continue;
            }
            List<String> want = new ArrayList<>(List.of("input_ids", "attention_mask", "decoder_input_ids"));
            if (f.fourInputs()) {
                want.add("decoder_attention_mask");
            }
            assertEquals(want, names(graphInputs(ModelIO.load(f.model()).getGraph())), f.name());
        }
    }

    // ---- helpers

    private static void assertClose(Fixture f, String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, f.name() + " " + what + ": element count");
        double maxAbs = 0;
        double maxRef = 0;
        for (int i = 0; i < want.length; i++) {
            assertTrue(Float.isFinite(got[i]), f.name() + " " + what + ": non-finite value at " + i);
            maxAbs = Math.max(maxAbs, Math.abs((double) got[i] - want[i]));
            maxRef = Math.max(maxRef, Math.abs(want[i]));
        }
        double bound = f.fp16() ? FP16_RELATIVE_TOLERANCE * maxRef : FP32_TOLERANCE;
        assertTrue(maxAbs <= bound, f.name() + " " + what + ": max |ORT - PyTorch| = " + maxAbs + " > " + bound);
    }

    private static OrtSession session(Fixture f, String part) {
        Path file = f.parts().get(part).file();
        return Sessions.create(ModelIO.load(file), OPTIONS, file.toString());
    }

    /** fp16 outputs come back widened: ORT's getFloatBuffer converts FLOAT16. */
    private static float[] floats(OrtSession.Result r, String name) {
        OnnxTensor t = (OnnxTensor) r.get(name).orElseThrow(() -> new AssertionError("no output " + name));
        FloatBuffer b = t.getFloatBuffer();
        assertTrue(b != null, name + " is not a float tensor: " + t.getInfo());
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    private static long[] columns(long[] m, int rows, int cols, int from, int to) {
        long[] out = new long[rows * (to - from)];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(m, r * cols + from, out, r * (to - from), to - from);
        }
        return out;
    }

    static List<Value> graphInputs(GraphProto g) {
        Set<String> inits = new HashSet<>();
        for (TensorProto t : g.getInitializerList()) {
            inits.add(t.getName());
        }
        List<ValueInfoProto> inputs = g.getInputList().stream().filter(v -> !inits.contains(v.getName())).toList();
        return values(inputs);
    }

    private static List<Value> values(List<ValueInfoProto> vs) {
        List<Value> out = new ArrayList<>();
        for (ValueInfoProto v : vs) {
            List<Object> dims = new ArrayList<>();
            for (TensorShapeProto.Dimension d : v.getType().getTensorType().getShape().getDimList()) {
                dims.add(d.hasDimValue() ? (Object) d.getDimValue() : d.hasDimParam() ? d.getDimParam() : null);
            }
            out.add(new Value(v.getName(), dtype(v.getType().getTensorType().getElemType()), dims));
        }
        return out;
    }

    private static String dtype(int elemType) {
        return switch (elemType) {
            case 1 -> "float32";
            case 10 -> "float16";
            case 11 -> "float64";
            case 16 -> "bfloat16";
            case 7 -> "int64";
            case 6 -> "int32";
            case 9 -> "bool";
            default -> "elem_type " + elemType;
        };
    }

    private static int opset(ModelProto m) {
        return m.getOpsetImportList().stream().filter(o -> o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx"))
                .mapToInt(o -> (int) o.getVersion()).max().orElseThrow();
    }

    private static List<String> names(List<Value> vs) {
        return vs.stream().map(Value::name).toList();
    }

    /** The reference batch's int64 inputs as ORT tensors, made once and closed together. */
    private static final class Feeds implements AutoCloseable {
        private final OrtEnvironment env;
        private final Map<String, OnnxTensor> tensors = new HashMap<>();
        private final List<OnnxTensor> made = new ArrayList<>();

        Feeds(OrtEnvironment env, SafetensorsFile ref) throws OrtException {
            this.env = env;
            for (String key : ref.names()) {
                if (key.startsWith("input/")) {
                    tensors.put(key.substring("input/".length()), track(OnnxTensor.createTensor(env,
                            LongBuffer.wrap(ref.longs(key)), ref.shape(key))));
                }
            }
        }

        OnnxTensor get(String name) {
            OnnxTensor t = tensors.get(name);
            if (t == null) {
                throw new AssertionError("the reference batch has no input " + name + "; it has " + tensors.keySet());
            }
            return t;
        }

        Map<String, OnnxTensor> of(List<String> names) {
            Map<String, OnnxTensor> m = new HashMap<>();
            names.forEach(n -> m.put(n, get(n)));
            return m;
        }

        /** A new [batch, len] int64 tensor, closed by the caller. */
        OnnxTensor ids(long[] values, int batch, int len) throws OrtException {
            return OnnxTensor.createTensor(env, LongBuffer.wrap(values), new long[] {batch, len});
        }

        private OnnxTensor track(OnnxTensor t) {
            made.add(t);
            return t;
        }

        @Override
        public void close() {
            made.forEach(OnnxTensor::close);
        }
    }

    private static void requireOne(List<Fixture> all, String shape, Predicate<Fixture> p) {
        List<String> hits = all.stream().filter(p).map(Fixture::name).toList();
        assertTrue(!hits.isEmpty(), "the export matrix has no " + shape + " fixture");
    }
}
