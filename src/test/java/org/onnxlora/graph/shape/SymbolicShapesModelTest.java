package org.onnxlora.graph.shape;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;
import org.onnxlora.testing.Fixtures;

/**
 * The inferred shapes of every value of the real BART exports (TorchScript, dynamo, Optimum encoder and
 * decoder) against the shapes ONNX Runtime actually produces, at two different (batch, source, target)
 * combinations: every intermediate becomes a graph output, and each symbolic shape, evaluated at the
 * run's sizes, must equal the real one. The elements tracked for small integer tensors (the exporters'
 * shape arithmetic) must equal the real values too. A shape the inference only names (a fresh symbol)
 * would fail the test: for these graphs every dim must be derived.
 */
class SymbolicShapesModelTest {
    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();
    private static final long[][] SIZES = {{2, 9, 6}, {3, 17, 5}};

    static Stream<Path> models() {
        return Stream.of(Fixtures.torchscript(), Fixtures.dynamo(), Fixtures.optimum().resolve("encoder_model.onnx"),
                Fixtures.optimum().resolve("decoder_model.onnx"));
    }

    /** The input contract of a seq2seq batch, by input name. */
    static Map<String, List<String>> contract(GraphProto g) {
        boolean optimumDecoder = g.getInputList().stream().anyMatch(v -> v.getName().equals("encoder_hidden_states"));
        Map<String, List<String>> c = new HashMap<>();
        c.put("input_ids", List.of("batch", optimumDecoder ? "target" : "source"));
        c.put("attention_mask", List.of("batch", "source"));
        c.put("decoder_input_ids", List.of("batch", "target"));
        c.put("encoder_attention_mask", List.of("batch", "source"));
        c.put("encoder_hidden_states", Arrays.asList("batch", "source", null));
        return c;
    }

    @ParameterizedTest
    @MethodSource("models")
    void inferredShapesAreWhatOrtComputes(Path file) throws OrtException {
        ModelProto model = ModelIO.load(file);
        GraphProto g = model.getGraph();
        SymbolicShapes shapes = SymbolicShapes.infer(g, contract(g));

        Set<String> values = new LinkedHashSet<>();
        for (NodeProto n : g.getNodeList()) {
            for (String o : n.getOutputList()) {
                if (!o.isEmpty()) {
                    values.add(o);
                }
            }
        }
        List<String> unknown = new ArrayList<>();
        for (String v : values) {
            List<Dim> s = shapes.shape(v);
            if (s == null || s.stream().anyMatch(d -> d.symbols().stream().anyMatch(SymbolicShapes::isFresh))) {
                unknown.add(v + "=" + s);
            }
        }
        assertEquals(List.of(), unknown, "values whose shape was not derived");

        GraphProto.Builder all = g.toBuilder().clearOutput();
        Set<String> declared = new java.util.HashSet<>();
        for (ValueInfoProto o : g.getOutputList()) {
            all.addOutput(o);
            declared.add(o.getName());
        }
        for (String v : values) {
            if (!declared.contains(v)) {
                all.addOutput(ValueInfoProto.newBuilder().setName(v));
            }
        }
        byte[] bytes = model.toBuilder().setGraph(all).build().toByteArray();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.NO_OPT);
            try (OrtSession session = ENV.createSession(bytes, o)) {
                for (long[] size : SIZES) {
                    check(session, g, shapes, values, size);
                }
            }
        }
    }

    private static void check(OrtSession session, GraphProto g, SymbolicShapes shapes, Set<String> values, long[] size)
            throws OrtException {
        Map<String, Long> at = Map.of("batch", size[0], "source", size[1], "target", size[2]);
        Map<String, OnnxTensor> feed = new LinkedHashMap<>();
        Random rnd = new Random(size[1]);
        try {
            for (ValueInfoProto in : g.getInputList()) {
                List<Dim> dims = shapes.shape(in.getName());
                long[] shape = dims.stream().mapToLong(d -> d.evaluate(at)).toArray();
                int count = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
                if (in.getType().getTensorType().getElemType() == 1) {
                    float[] f = new float[count];
                    for (int i = 0; i < count; i++) {
                        f[i] = (float) rnd.nextGaussian();
                    }
                    feed.put(in.getName(), OnnxTensor.createTensor(ENV, FloatBuffer.wrap(f), shape));
                } else {
                    long[] l = new long[count];
                    boolean mask = in.getName().contains("mask");
                    for (int i = 0; i < count; i++) {
                        // masks: the last position of every row but the first is padding
                        l[i] = mask ? (i % shape[1] == shape[1] - 1 && i >= shape[1] ? 0 : 1) : 3 + rnd.nextInt(1000);
                    }
                    feed.put(in.getName(), OnnxTensor.createTensor(ENV, LongBuffer.wrap(l), shape));
                }
            }
            List<String> mismatches = new ArrayList<>();
            try (OrtSession.Result r = session.run(feed, values)) {
                for (String v : values) {
                    OnnxValue ov = r.get(v).orElseThrow();
                    OnnxTensor t = (OnnxTensor) ov;
                    long[] actual = t.getInfo().getShape();
                    long[] expected = shapes.shape(v).stream().mapToLong(d -> d.evaluate(at)).toArray();
                    if (!Arrays.equals(actual, expected)) {
                        mismatches.add(v + ": inferred " + shapes.shape(v) + " = " + Arrays.toString(expected)
                                + ", ORT " + Arrays.toString(actual));
                        continue;
                    }
                    List<Dim> elems = shapes.elements(v);
                    if (elems != null) {
                        long[] real = longs(t);
                        if (real == null) {
                            mismatches.add(v + ": elements tracked for a " + t.getInfo().type + " tensor");
                            continue;
                        }
                        for (int i = 0; i < elems.size(); i++) {
                            if (elems.get(i) != null && elems.get(i).evaluate(at) != real[i]) {
                                mismatches.add(v + "[" + i + "]: inferred " + elems.get(i) + ", ORT " + real[i]);
                            }
                        }
                    }
                }
            }
            assertTrue(mismatches.isEmpty(), "at " + at + ":\n" + String.join("\n", mismatches));
        } finally {
            feed.values().forEach(OnnxTensor::close);
        }
    }

    private static long[] longs(OnnxTensor t) {
        switch (t.getInfo().type) {
            case INT64 -> {
                LongBuffer b = t.getLongBuffer();
                long[] l = new long[b.remaining()];
                b.get(l);
                return l;
            }
            case INT32 -> {
                java.nio.IntBuffer b = t.getIntBuffer();
                long[] l = new long[b.remaining()];
                for (int i = 0; i < l.length; i++) {
                    l[i] = b.get(i);
                }
                return l;
            }
            case BOOL -> {
                ByteBuffer b = t.getByteBuffer();
                long[] l = new long[b.remaining()];
                for (int i = 0; i < l.length; i++) {
                    l[i] = b.get(i) != 0 ? 1 : 0;
                }
                return l;
            }
            default -> {
                return null;
            }
        }
    }
}
