package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.BranchMergePass;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;

/**
 * The fast save path: weights that are unchanged views of the loaded file are copied in
 * the kernel, and the file is still exactly what protobuf-java would write.
 */
class KernelCopySaveTest {
    @TempDir
    Path tmp;

    /** Bytes of initializers large enough to be copied directly. */
    private static long directBytes(ModelProto m) {
        return m.getGraph().getInitializerList().stream().mapToLong(t -> t.getRawData().size())
                .filter(n -> n >= PayloadSink.DIRECT_MIN).sum();
    }

    @Test
    void untouchedModelIsCopiedInTheKernelAndByteIdentical() throws IOException {
        for (Path p : List.of(Fixtures.torchscript(), Fixtures.dynamo())) {
            ModelProto m = ModelIO.load(p);
            Path out = tmp.resolve(p.getFileName());
            PayloadSink.Stats s = ModelIO.write(m, out, ModelIO.ExternalData.NEVER);
            assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(out), p + " not byte-identical");
            assertEquals(Files.size(p), s.bytes());
            assertTrue(directBytes(m) > Files.size(p) / 2, "fixture too small to test the direct path");
            assertEquals(directBytes(m), s.copiedInKernel());
        }
    }

    @Test
    void patchedModelIsExactlyWhatProtobufWritesAndRuns() throws IOException {
        ModelProto base = ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj", "v_proj"), LoraConfig.Init.KAIMING, 1);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        PatchPlan plan = pass.plan(base, null, cfg);
        ModelProto patched = pass.apply(base, cfg, plan, new AdapterInit(cfg.init(), cfg.seed())).output();
        Path out = tmp.resolve("patched.onnx");
        PayloadSink.Stats s = ModelIO.write(patched, out, ModelIO.ExternalData.NEVER);

        byte[] file = Files.readAllBytes(out);
        assertArrayEquals(patched.toByteArray(), file);
        assertEquals(patched, ModelProto.parseFrom(file)); // plain protobuf-java, no aliasing
        assertEquals(directBytes(base), s.copiedInKernel(), "every base weight should come from the source file");
        // B = 0: the patched file computes exactly what the base does, in ONNX Runtime
        Verifier.Report r = new Verifier(RuntimeOptions.defaults().withOptimize(false))
                .compare(Fixtures.torchscript(), out, 1, 0);
        assertTrue(r.maxAbs() <= 1e-6, "patched differs by " + r.maxAbs());
    }

    @Test
    void mergedModelMixesHeapAndKernelCopies() throws IOException {
        ModelProto base = ModelIO.load(Fixtures.torchscript());
        LoraConfig cfg = new LoraConfig(4, 8, List.of("q_proj"), LoraConfig.Init.GAUSSIAN, 1);
        PatchPass pass = new PatchPass(ModelFamily.bart());
        ModelProto patched = pass.apply(base, cfg, pass.plan(base, null, cfg), (proj, rank, scaling) -> {
            AdapterTensors a = new AdapterInit(cfg.init(), cfg.seed()).valuesFor(proj, rank, scaling);
            double[] b = new double[a.b().length];
            Arrays.fill(b, 0.01); // as if trained: the merge must change the weights
            return new AdapterTensors(a.in(), a.out(), rank, scaling, a.a(), b);
        }).output();
        Path p = tmp.resolve("patched.onnx");
        ModelIO.save(patched, p, ModelIO.ExternalData.NEVER);
        ModelProto merged = new BranchMergePass().apply(ModelIO.load(p), org.onnxlora.lora.AdapterValues.none()).output();
        Path out = tmp.resolve("merged.onnx");
        PayloadSink.Stats s = ModelIO.write(merged, out, ModelIO.ExternalData.NEVER);
        assertArrayEquals(merged.toByteArray(), Files.readAllBytes(out));
        assertTrue(s.copiedInKernel() > 0 && s.copiedInKernel() < directBytes(merged),
                "merged weights are new, the rest comes from the patched file: " + s);
    }

    @Test
    void replacedSourceFileIsNeverReadAtSave() throws IOException {
        Path src = tmp.resolve("model.onnx");
        Files.copy(Fixtures.torchscript(), src);
        ModelProto m = ModelIO.load(src);
        // another model renamed over the path: the loaded views still show the old inode
        Path other = tmp.resolve("other.onnx");
        Files.copy(Fixtures.dynamo(), other);
        Files.move(other, src, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        Path out = tmp.resolve("out.onnx");
        PayloadSink.Stats s = ModelIO.write(m, out, ModelIO.ExternalData.NEVER);
        assertEquals(0, s.copiedInKernel());
        assertArrayEquals(Files.readAllBytes(Fixtures.torchscript()), Files.readAllBytes(out));
    }

    @Test
    void externalDataIsCopiedInTheKernelBothWays() throws IOException {
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        Path ext = tmp.resolve("ext.onnx");
        PayloadSink.Stats toExternal = ModelIO.write(m, ext, ModelIO.ExternalData.ALWAYS);
        assertEquals(directBytes(m), toExternal.copiedInKernel());
        ModelProto reloaded = ModelIO.load(ext);
        assertEquals(m.getGraph().getInitializerList(), reloaded.getGraph().getInitializerList());
        Path back = tmp.resolve("back.onnx");
        PayloadSink.Stats fromExternal = ModelIO.write(reloaded, back, ModelIO.ExternalData.NEVER);
        assertEquals(directBytes(m), fromExternal.copiedInKernel(), "views of the .data file are copied too");
        assertArrayEquals(reloaded.toByteArray(), Files.readAllBytes(back));
    }

    @Test
    void graphSplitOverSeveralChunksIsScannedInParseOrder() throws IOException {
        // protobuf merges repeated occurrences of ModelProto.graph, concatenating initializers
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        GraphProto g = m.getGraph();
        ByteArrayOutputStream chunked = new ByteArrayOutputStream();
        m.toBuilder().setGraph(g.toBuilder().clearInitializer()).build().writeTo(chunked);
        for (TensorProto t : g.getInitializerList()) {
            ModelProto.newBuilder().setGraph(GraphProto.newBuilder().addInitializer(t)).build().writeTo(chunked);
        }
        Path p = tmp.resolve("chunked.onnx");
        Files.write(p, chunked.toByteArray());
        ModelProto loaded = ModelIO.load(p);
        assertEquals(g.getInitializerList(), loaded.getGraph().getInitializerList());
        for (TensorProto t : loaded.getGraph().getInitializerList()) {
            ByteString raw = t.getRawData();
            MappedSources.Region r = MappedSources.lookup(raw);
            if (raw.size() < PayloadSink.DIRECT_MIN) {
                continue;
            }
            byte[] at = new byte[raw.size()];
            System.arraycopy(chunked.toByteArray(), Math.toIntExact(r.offset()), at, 0, at.length);
            assertArrayEquals(raw.toByteArray(), at, t.getName() + " registered at the wrong offset");
        }
        Path out = tmp.resolve("out.onnx");
        assertEquals(directBytes(loaded), ModelIO.write(loaded, out, ModelIO.ExternalData.NEVER).copiedInKernel());
        assertArrayEquals(loaded.toByteArray(), Files.readAllBytes(out));
    }
}
