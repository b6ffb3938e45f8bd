package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
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
import org.onnxlora.testing.Fixtures;

/** --force replaces an output; no path that is, holds or aliases an input is ever an output. */
class OutputGuardTest {
    @TempDir
    Path tmp;

    static OnnxLoraException refused(Path out, OutputGuard.Kind kind, Path... inputs) {
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> OutputGuard.check(out, kind, true, List.of(inputs)));
        assertEquals(ErrorCode.BAD_ARGUMENT, e.code(), e.getMessage());
        assertTrue(e.getMessage().contains("never modifies its inputs"), e.getMessage());
        return e;
    }

    @Test
    void anInputUnderAnyNameIsRefused() throws IOException {
        Path a = Files.writeString(tmp.resolve("a.safetensors"), "adapter");
        refused(a, OutputGuard.Kind.FILE, a);
        refused(tmp.resolve("x/../a.safetensors"), OutputGuard.Kind.FILE, a);
        Path link = Files.createSymbolicLink(tmp.resolve("link"), a);
        refused(link, OutputGuard.Kind.FILE, a);
        Path hard = Files.createLink(tmp.resolve("hard"), a);
        refused(hard, OutputGuard.Kind.FILE, a);
        assertDoesNotThrow(() -> OutputGuard.check(tmp.resolve("b.safetensors"), OutputGuard.Kind.FILE, true, List.of(a)));
    }

    @Test
    void aModelsExternalDataIsPartOfIt() throws IOException {
        Path model = tmp.resolve("big.onnx");
        ModelIO.save(ModelIO.load(Fixtures.torchscript()), model, ModelIO.ExternalData.ALWAYS);
        Path data = tmp.resolve("big.onnx.data");
        assertTrue(Files.exists(data));
        OnnxLoraException e = refused(data, OutputGuard.Kind.FILE, model);
        assertTrue(e.getMessage().contains("external data"), e.getMessage());
        // a model output whose side-car would land on the input's data file
        Path renamed = tmp.resolve("other.onnx");
        Files.move(model, renamed);
        Path sibling = tmp.resolve("sibling.onnx");
        Files.createSymbolicLink(tmp.resolve("sibling.onnx.data"), data);
        refused(sibling, OutputGuard.Kind.MODEL, renamed);
    }

    @Test
    void aFolderOutputMayNotHoldAnInputAndAFileInAnInputFolderMayNotBeReplaced() throws IOException {
        Path peft = Files.createDirectories(tmp.resolve("peft"));
        Path weights = Files.writeString(peft.resolve("adapter_model.safetensors"), "w");
        refused(peft, OutputGuard.Kind.FOLDER, peft);
        refused(tmp, OutputGuard.Kind.FOLDER, peft);
        refused(weights, OutputGuard.Kind.FILE, peft);
        refused(tmp, OutputGuard.Kind.FOLDER, weights);
        // a new file or folder inside an input folder replaces nothing of it
        assertDoesNotThrow(() -> OutputGuard.check(peft.resolve("merged.onnx"), OutputGuard.Kind.MODEL, true, List.of(peft)));
        assertDoesNotThrow(() -> OutputGuard.check(peft.resolve("serving"), OutputGuard.Kind.FOLDER, true, List.of(peft)));
    }

    @Test
    void deletingARunFileThatIsAnInputIsRefused() throws IOException {
        Path run = Files.createDirectories(tmp.resolve("run"));
        Path model = Files.writeString(run.resolve("model.onnx"), "m");
        Path artifacts = Files.createDirectories(run.resolve("artifacts"));
        Path tok = Files.writeString(artifacts.resolve("tokenizer.json"), "{}");
        assertThrows(OnnxLoraException.class, () -> OutputGuard.checkDeletable(List.of(model), List.of(model)));
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> OutputGuard.checkDeletable(List.of(artifacts), List.of(tok)));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("deleted"), e.getMessage());
    }

    @Test
    void theWrongKindOfExistingOutputIsOneLine() throws IOException {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        OnnxLoraException e = assertThrows(OnnxLoraException.class,
                () -> OutputGuard.check(file, OutputGuard.Kind.FOLDER, true, List.of()));
        assertTrue(e.getMessage().contains("is a file"), e.getMessage());
        e = assertThrows(OnnxLoraException.class, () -> OutputGuard.check(tmp, OutputGuard.Kind.MODEL, true, List.of()));
        assertTrue(e.getMessage().contains("is a folder"), e.getMessage());
    }
}
