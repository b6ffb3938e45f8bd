package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.io.ModelIO;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.Fixtures;

/**
 * Models and adapters a user (or a bad tool) damaged: each gives one line naming the field,
 * tensor or node, and an input-class exit code, never a stack trace (exit 70) or a model the
 * runtime would refuse.
 */
class BadModelInputsTest {
    @TempDir
    Path tmp;

    private Path patched;

    @BeforeEach
    void patch() {
        patched = tmp.resolve("p.onnx");
        assertEquals(0, CliTest.run("patch", "--model", Fixtures.torchscript().toString(), "--out", patched.toString(),
                "--rank", "2", "--target", "model.encoder.layers.0.self_attn.q_proj").code());
    }

    private static void assertOneLine(CliTest.Run r, int code, String... fragments) {
        CliTest.assertOneLineError(r, code, fragments);
        assertFalse(r.err().contains("Exception"), "exception class in the message: " + r.err());
        assertFalse(r.err().contains("http"), "URL in the message: " + r.err());
    }

    private Path edited(String name, UnaryOperator<ModelProto> edit) {
        Path out = tmp.resolve(name);
        ModelIO.save(edit.apply(ModelIO.load(patched)), out);
        return out;
    }

    private static ModelProto withMetadata(ModelProto m, UnaryOperator<String> edit) {
        String json = m.getMetadataPropsList().stream().filter(e -> e.getKey().equals(LoraMetadata.KEY)).findFirst()
                .orElseThrow().getValue();
        return LoraMetadata.withEntry(m, LoraMetadata.KEY, edit.apply(json));
    }

    @Test
    void inspectNamesANullModulesField() {
        Path p = edited("null-modules.onnx", m -> withMetadata(m, j -> j.replaceFirst("\"modules\": \\[", "\"modules\": null, \"x\": [")));
        assertOneLine(CliTest.run("inspect", "--model", p.toString()), 4, "'modules'", "null");
    }

    @Test
    void malformedNumbersInTheMetadataNameTheField() {
        Path p = edited("bad-rank.onnx", m -> withMetadata(m, j -> j.replaceFirst("\"rank\": 2,", "\"rank\": 2.5,")));
        assertOneLine(CliTest.run("inspect", "--model", p.toString()), 4, "'rank'", "whole number");
        Path q = edited("bad-in.onnx", m -> withMetadata(m, j -> j.replaceFirst("\"in\": 64", "\"in\": \"sixty-four\"")));
        assertOneLine(CliTest.run("inspect", "--model", q.toString()), 4, "'modules[0].in'", "a string");
        Path r = edited("bad-json.onnx", m -> withMetadata(m, j -> j.substring(0, j.length() / 2)));
        assertOneLine(CliTest.run("inspect", "--model", r.toString()), 4, "'onnx_lora' metadata", "not valid JSON");
    }

    /** The targeted weight of q_proj with a data_type ONNX does not define. */
    private Path unknownDtype() {
        return edited("dtype.onnx", m -> {
            String weight = org.onnxlora.lora.LoraMetadata.read(m).orElseThrow().modules().get(0).baseWeight();
            GraphProto.Builder g = m.getGraph().toBuilder();
            for (int i = 0; i < g.getInitializerCount(); i++) {
                if (g.getInitializer(i).getName().equals(weight)) {
                    g.setInitializer(i, g.getInitializer(i).toBuilder().setDataType(99));
                }
            }
            return m.toBuilder().setGraph(g).build();
        });
    }

    @Test
    void anUnknownDataTypeInATargetedWeightIsNamedByMergeAndCompile() {
        Path p = unknownDtype();
        assertOneLine(CliTest.run("merge", "--model", p.toString(), "--out", tmp.resolve("w.onnx").toString()), 4,
                "data_type 99");
        assertOneLine(CliTest.run("compile", "--model", p.toString(), "--out", tmp.resolve("art").toString()), 4,
                "data_type 99");
    }

    @Test
    void patchRefusesADanglingEdgeInsteadOfWritingAnUnloadableModel() throws IOException {
        Path base = tmp.resolve("dangling.onnx");
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        GraphProto.Builder g = m.getGraph().toBuilder();
        NodeProto n = g.getNode(5);
        g.setNode(5, n.toBuilder().setInput(0, "nobody_makes_this"));
        ModelIO.save(m.toBuilder().setGraph(g).build(), base);
        Path out = tmp.resolve("out.onnx");
        assertOneLine(CliTest.run("patch", "--model", base.toString(), "--out", out.toString(), "--target", "q_proj"),
                4, "'" + n.getName() + "'", "'nobody_makes_this'");
        assertFalse(Files.exists(out));
    }

    @Test
    void patchRefusesAnInitializerWhoseDimsDoNotMatchItsData() {
        Path base = tmp.resolve("dims.onnx");
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        GraphProto.Builder g = m.getGraph().toBuilder();
        int i = 0;
        while (g.getInitializer(i).getDimsCount() != 2) {
            i++;
        }
        TensorProto t = g.getInitializer(i);
        g.setInitializer(i, t.toBuilder().setDims(0, t.getDims(0) + 1));
        ModelIO.save(m.toBuilder().setGraph(g).build(), base);
        Path out = tmp.resolve("out.onnx");
        assertOneLine(CliTest.run("patch", "--model", base.toString(), "--out", out.toString(), "--target", "q_proj"),
                4, "'" + t.getName() + "'", "expected");
        assertFalse(Files.exists(out));
    }

    /** An adapters file for the patched model whose lora_B holds a NaN. */
    private Path nanAdapter() {
        LoraMetadata.Module mod = LoraMetadata.read(ModelIO.load(patched)).orElseThrow().modules().get(0);
        float[] a = new float[(int) mod.in() * mod.rank()];
        float[] b = new float[mod.rank() * (int) mod.out()];
        Arrays.fill(a, 0.01f);
        b[3] = Float.NaN;
        Path file = tmp.resolve("adapters.safetensors");
        new SafetensorsWriter().putFloats(mod.loraA(), new long[] {mod.in(), mod.rank()}, a)
                .putFloats(mod.loraB(), new long[] {mod.rank(), mod.out()}, b).write(file);
        return file;
    }

    @Test
    void mergeRefusesNonFiniteAdaptersUnlessAllowed() {
        Path adapter = nanAdapter();
        Path out = tmp.resolve("w.onnx");
        assertOneLine(CliTest.run("merge", "--model", patched.toString(), "--adapter", adapter.toString(),
                "--out", out.toString()), 10, "lora_B' holds NaN (element 3");
        assertFalse(Files.exists(out));
        CliTest.Run ok = CliTest.run("merge", "--model", patched.toString(), "--adapter", adapter.toString(),
                "--out", out.toString(), "--allow-nonfinite");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(CliTest.run("merge", "--help").out().contains("--allow-nonfinite"));
    }

    @Test
    void exportAdapterRefusesNonFiniteAdaptersUnlessAllowed() {
        Path adapter = nanAdapter();
        Path out = tmp.resolve("peft");
        assertOneLine(CliTest.run("export-adapter", "--adapter", adapter.toString(), "--model", patched.toString(),
                "--format", "peft", "--out", out.toString()), 10, "holds NaN");
        CliTest.Run ok = CliTest.run("export-adapter", "--adapter", adapter.toString(), "--model", patched.toString(),
                "--format", "peft", "--out", out.toString(), "--allow-nonfinite");
        assertEquals(0, ok.code(), ok.err());
        assertTrue(CliTest.run("export-adapter", "--help").out().contains("--allow-nonfinite"));
    }

    @Test
    void evalOfAModelWhoseLogitsAreNanWritesNanAsAStringAndSaysSo() throws IOException {
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        GraphProto.Builder g = m.getGraph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            TensorProto t = g.getInitializer(i);
            if (t.getName().contains("layernorm_embedding.bias") || t.getName().contains("layernorm_embedding.weight")) {
                float[] nan = new float[(int) org.onnxlora.io.Tensors.elementCount(t)];
                Arrays.fill(nan, Float.NaN);
                g.setInitializer(i, org.onnxlora.io.Tensors.ofFloats(t.getName(), org.onnxlora.io.Tensors.shape(t), nan));
            }
        }
        Path nanModel = tmp.resolve("nan.onnx");
        ModelIO.save(m.toBuilder().setGraph(g).build(), nanModel);
        Path data = tmp.resolve("d.jsonl");
        Files.writeString(data, "{\"source\": \"hello world\", \"target\": \"hi\"}\n");
        CliTest.Run r = CliTest.run("eval", "--model", nanModel.toString(), "--tokenizer", Fixtures.tokenizer().toString(),
                "--data", data.toString(), "--no-generate");
        assertEquals(0, r.code(), r.err());
        var o = com.google.gson.JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals("NaN", o.get("loss").getAsString());
        assertTrue(r.err().contains("written as the string \"NaN\""), r.err());
    }
}
