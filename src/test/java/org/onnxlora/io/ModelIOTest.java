package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.UnknownFieldSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;
import org.onnxlora.testing.Fixtures;

class ModelIOTest {
    @TempDir
    Path tmp;

    @Test
    void loadSaveLoadIsLosslessByteForByte() throws IOException {
        for (Path p : new Path[] {Fixtures.torchscript(), Fixtures.dynamo(), Fixtures.optimum().resolve("decoder_model.onnx")}) {
            ModelProto m = ModelIO.load(p);
            Path out = tmp.resolve(p.getFileName());
            ModelIO.save(m, out, ModelIO.ExternalData.NEVER);
            assertEquals(m, ModelIO.load(out));
            assertArrayEquals(Files.readAllBytes(p), Files.readAllBytes(out), p + " not byte-identical");
        }
    }

    @Test
    void unknownFieldsSurvive() {
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        UnknownFieldSet extra = UnknownFieldSet.newBuilder()
                .addField(26, UnknownFieldSet.Field.newBuilder().addLengthDelimited(
                        com.google.protobuf.ByteString.copyFromUtf8("future field")).build())
                .build();
        ModelProto withFuture = m.toBuilder().setUnknownFields(extra).build();
        Path out = tmp.resolve("future.onnx");
        ModelIO.save(withFuture, out);
        assertEquals(extra, ModelIO.load(out).getUnknownFields());
    }

    @Test
    void externalDataRoundTripRunsTheSame() {
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        Path out = tmp.resolve("ext.onnx");
        ModelIO.save(m, out, ModelIO.ExternalData.ALWAYS);
        assertTrue(Files.exists(tmp.resolve("ext.onnx.data")));
        ModelProto raw = ModelIO.load(out);
        assertEquals(m.getGraph().getInitializerList(), raw.getGraph().getInitializerList());
        // ONNX Runtime reads our external data layout itself
        Verifier.Report r = new Verifier(RuntimeOptions.defaults().withOptimize(false))
                .compare(Fixtures.torchscript(), out, 1, 0);
        assertEquals(0.0, r.maxAbs());
    }

    @Test
    void weightsAreAliasedNotCopied() {
        ModelProto m = ModelIO.load(Fixtures.torchscript());
        TensorProto big = m.getGraph().getInitializerList().stream()
                .max((a, b) -> Integer.compare(a.getRawData().size(), b.getRawData().size())).orElseThrow();
        // an aliased ByteString wraps the mapped buffer: it is not backed by a heap array
        assertTrue(big.getRawData().asReadOnlyByteBuffer().isDirect(), "raw_data should view the mapped file");
    }

    @Test
    void truncatedOrForeignFilesAreRejectedClearly() throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.torchscript());
        Path cut = tmp.resolve("cut.onnx");
        Files.write(cut, Arrays.copyOf(bytes, bytes.length / 2));
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> ModelIO.load(cut));
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("cut.onnx"), e.getMessage());

        Path text = tmp.resolve("notes.onnx");
        Files.writeString(text, "this is not a model\n");
        assertEquals(ErrorCode.INVALID_MODEL, assertThrows(OnnxLoraException.class, () -> ModelIO.load(text)).code());

        Path empty = tmp.resolve("empty.onnx");
        Files.write(empty, new byte[0]);
        assertEquals(ErrorCode.INVALID_MODEL, assertThrows(OnnxLoraException.class, () -> ModelIO.load(empty)).code());
        assertEquals(ErrorCode.IO, assertThrows(OnnxLoraException.class,
                () -> ModelIO.load(tmp.resolve("missing.onnx"))).code());
    }
}
