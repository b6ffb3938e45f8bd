package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.synth.BartShape;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import picocli.CommandLine;

class SynthCommandTest {
    @TempDir
    Path dir;

    /** Runs the command as Main would, mapping OnnxLoraException to its exit code. */
    private static int run(String... args) {
        CommandLine cmd = new CommandLine(new SynthCommand());
        cmd.setOut(new PrintWriter(new StringWriter()));
        cmd.setErr(new PrintWriter(new StringWriter()));
        cmd.setExecutionExceptionHandler((e, c, p) -> {
            if (e instanceof OnnxLoraException o) {
                return o.code().exitCode();
            }
            throw e;
        });
        return cmd.execute(args);
    }

    @Test
    void overridesApplyToThePreset() {
        Path out = dir.resolve("m.onnx");
        assertEquals(0, run("--preset", "tiny", "--layers", "1", "--d-model", "32", "--heads", "2",
                "--vocab", "500", "--seed", "3", "--out", out.toString()));
        ModelProto m = ModelIO.load(out);
        BartShape expected = new BartShape(500, 32, 1, 1, 2, 256, 256, BartShape.Dtype.FLOAT32);
        assertEquals(expected.weightBytes(), ModelIO.weightBytes(m));
        assertTrue(m.getGraph().getNodeList().stream()
                .noneMatch(n -> n.getName().startsWith("/model/encoder/layers.1/")));
    }

    @Test
    void externalDataAndFp16() {
        Path out = dir.resolve("x.onnx");
        assertEquals(0, run("--fp16", "--layers", "1", "--external-data", "--out", out.toString()));
        assertTrue(Files.exists(dir.resolve("x.onnx.data")));
        ModelProto m = ModelIO.load(out);
        assertTrue(m.getGraph().getInitializerList().stream()
                .allMatch(t -> t.getDataType() == TensorProto.DataType.FLOAT16_VALUE));
    }

    @Test
    void refusesToOverwriteWithoutForceAndRejectsBadShapes() throws Exception {
        Path out = dir.resolve("y.onnx");
        Files.writeString(out, "keep me");
        assertEquals(3, run("--out", out.toString()));
        assertEquals("keep me", Files.readString(out));
        assertEquals(0, run("--layers", "1", "--force", "--out", out.toString()));
        assertEquals(2, run("--d-model", "30", "--heads", "4", "--out", dir.resolve("z.onnx").toString()));
        assertEquals(2, run("--preset", "huge", "--out", dir.resolve("z.onnx").toString()));
    }
}
