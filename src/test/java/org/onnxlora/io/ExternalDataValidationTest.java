package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.testing.TinyGraphs;

/** What a model file says about its external data is checked before anything is mapped or copied. */
class ExternalDataValidationTest {
    @TempDir
    Path tmp;

    /** A model whose one 16x16 float weight lives in {@code dir/model.onnx.data}. */
    private Path externalModel(Path dir) {
        TinyGraphs t = new TinyGraphs(1);
        ModelProto m = t.input("x", TensorProto.DataType.FLOAT_VALUE, 1, 16)
                .init(t.random("w", TensorProto.DataType.FLOAT_VALUE, 16, 16))
                .node("MatMul", "mm", List.of("x", "w"), List.of("y"))
                .output("y", TensorProto.DataType.FLOAT_VALUE, 1, 16)
                .model();
        Path p = dir.resolve("model.onnx");
        ModelIO.save(m, p, ModelIO.ExternalData.ALWAYS);
        return p;
    }

    /** Rewrites the external_data entries of initializer 0 of the (unresolved) model file. */
    private static void rewriteExternal(Path model, String key, String value) throws IOException {
        ModelProto m = ModelProto.parseFrom(Files.readAllBytes(model));
        TensorProto.Builder w = m.getGraph().getInitializer(0).toBuilder().clearExternalData();
        boolean set = false;
        for (StringStringEntryProto e : m.getGraph().getInitializer(0).getExternalDataList()) {
            if (e.getKey().equals(key)) {
                w.addExternalData(e.toBuilder().setValue(value));
                set = true;
            } else {
                w.addExternalData(e);
            }
        }
        if (!set) {
            w.addExternalData(StringStringEntryProto.newBuilder().setKey(key).setValue(value));
        }
        ModelProto out = m.toBuilder().setGraph(m.getGraph().toBuilder().setInitializer(0, w)).build();
        Files.write(model, out.toByteArray());
    }

    private static OnnxLoraException refused(Path model) {
        return assertThrows(OnnxLoraException.class, () -> ModelIO.load(model));
    }

    @Test
    void aSymlinkPointingOutsideTheModelsFolderIsRefused() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path model = externalModel(dir);
        Path secret = Files.createDirectories(tmp.resolve("elsewhere")).resolve("secret.bin");
        Files.move(dir.resolve("model.onnx.data"), secret);
        Files.createSymbolicLink(dir.resolve("model.onnx.data"), secret);
        OnnxLoraException e = refused(model);
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("symbolic link") && e.getMessage().contains("'w'"), e.getMessage());
    }

    @Test
    void aSymlinkThatStaysInsideTheFolderIsFollowed() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        Path model = externalModel(dir);
        Path sub = Files.createDirectories(dir.resolve("weights"));
        Files.move(dir.resolve("model.onnx.data"), sub.resolve("real.data"));
        Files.createSymbolicLink(dir.resolve("model.onnx.data"), Path.of("weights", "real.data"));
        assertEquals(1024, ModelIO.load(model).getGraph().getInitializer(0).getRawData().size());
    }

    @Test
    void aDotDotLocationIsStillRefused() throws IOException {
        Path model = externalModel(Files.createDirectories(tmp.resolve("model")));
        rewriteExternal(model, "location", "../model.onnx.data");
        assertTrue(refused(model).getMessage().contains("outside the model's folder"));
    }

    @Test
    void malformedOffsetsAndLengthsNameTheEntry() throws IOException {
        Path model = externalModel(Files.createDirectories(tmp.resolve("model")));
        for (String[] bad : new String[][] {{"offset", "12abc"}, {"length", "-5"}, {"offset", "99999999999999999999"}}) {
            rewriteExternal(model, bad[0], bad[1]);
            OnnxLoraException e = refused(model);
            assertEquals(ErrorCode.INVALID_MODEL, e.code());
            assertTrue(e.getMessage().contains(bad[0] + " '" + bad[1] + "'"), e.getMessage());
            rewriteExternal(model, bad[0], "0");
        }
    }

    @Test
    void offsetPlusLengthMayNotOverflowPastTheFile() throws IOException {
        Path model = externalModel(Files.createDirectories(tmp.resolve("model")));
        rewriteExternal(model, "offset", "8");
        rewriteExternal(model, "length", Long.toString(Long.MAX_VALUE));
        assertTrue(refused(model).getMessage().contains("which has only"));
    }

    @Test
    void aLengthThatDisagreesWithDimsTimesDtypeIsRefused() throws IOException {
        Path model = externalModel(Files.createDirectories(tmp.resolve("model")));
        rewriteExternal(model, "length", "1000");
        OnnxLoraException e = refused(model);
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains("expected 1024 bytes"), e.getMessage());
    }

    /** Found by the fuzz harness (onnx-bytes): a NUL in the location threw InvalidPathException. */
    @Test
    void aLocationThatIsNoValidPathIsRefused() throws IOException {
        Path model = externalModel(Files.createDirectories(tmp.resolve("model")));
        rewriteExternal(model, "location", "mo\u0000del.data");
        OnnxLoraException e = refused(model);
        assertEquals(ErrorCode.INVALID_MODEL, e.code());
        assertTrue(e.getMessage().contains("'mo?del.data', which is not a valid path"), e.getMessage());
    }
}
