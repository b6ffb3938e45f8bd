package org.onnxlora.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.io.EOFException;
import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The JDK's path-only exceptions become words; parser noise (class names, URLs) goes. */
class IoErrorsTest {
    @TempDir
    Path dir;

    @Test
    void pathOnlyExceptionsAreNamedByTheirType() {
        // their getMessage() is just the path, which the caller's message already names
        assertEquals("permission denied", IoErrors.reason(new AccessDeniedException("/m/model.onnx")));
        assertEquals("no such file or folder", IoErrors.reason(new NoSuchFileException("/m/model.onnx")));
        assertEquals("already exists", IoErrors.reason(new FileAlreadyExistsException("/run")));
        assertEquals("no space left on device",
                IoErrors.reason(new FileSystemException("/run/x", null, "No space left on device")));
        assertEquals("not valid UTF-8 text", IoErrors.reason(new MalformedInputException(1)));
        assertEquals("the file ends too early", IoErrors.reason(new EOFException()));
        assertEquals("disk on fire", IoErrors.reason(new IOException("disk on fire")));
    }

    @Test
    void describeNamesTheFileWhenNothingElseDoes() {
        assertEquals("/m/model.onnx: permission denied", IoErrors.describe(new AccessDeniedException("/m/model.onnx")));
        assertEquals("/a -> /b: already exists", IoErrors.describe(new FileAlreadyExistsException("/a", "/b", null)));
        assertEquals("I/O error: disk on fire", IoErrors.describe(new IOException("disk on fire")));
    }

    @Test
    void aRealFailureReadsAsASentence() throws IOException {
        Path file = Files.writeString(dir.resolve("f"), "x");
        IOException e = assertThrows(IOException.class,
                () -> Files.createDirectories(file.resolve("sub")));
        assertEquals(file.resolve("sub") + ": not a directory", IoErrors.describe(e));
    }

    @Test
    void gsonNoiseIsCutFromParserMessages() {
        JsonParseException e = assertThrows(JsonParseException.class,
                () -> JsonParser.parseString("{\"a\": "));
        String r = JsonErrors.reason(e);
        assertEquals("End of input at line 1 column 7 path $.a", r);
        JsonParseException m = assertThrows(JsonParseException.class,
                () -> JsonParser.parseString("{\"a\" 1}"));
        String r2 = IoErrors.reason(m);
        assertFalse(r2.contains("http") || r2.contains("com.google") || r2.contains("\n"), r2);
    }
}
