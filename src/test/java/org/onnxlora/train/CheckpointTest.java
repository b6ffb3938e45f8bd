package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.run.Checkpoint;

/** How a run's checkpoint is found when its pointer or its state is damaged. */
class CheckpointTest {
    @TempDir
    Path tmp;

    /** A checkpoint folder whose files exist and whose state is valid (the tensors are not read by find). */
    static Path fakeCheckpoint(Path run, long step) throws IOException {
        Path dir = Files.createDirectories(run.resolve("checkpoints").resolve(String.format("step-%08d", step)));
        Files.writeString(dir.resolve(Checkpoint.ADAPTERS), "");
        Files.writeString(dir.resolve(Checkpoint.OPTIMIZER), "");
        Files.writeString(dir.resolve(Checkpoint.STATE), "{\"step\": " + step + ", \"epoch\": 0, \"batchIndex\": " + step
                + ", \"seed\": 1, \"fingerprint\": \"fp\", \"lastLoss\": 1.5}");
        return dir;
    }

    static void point(Path run, String content) throws IOException {
        Files.writeString(run.resolve("checkpoints").resolve(Checkpoint.LATEST), content);
    }

    @Test
    void anIntactPointerIsFollowed() throws IOException {
        Path run = tmp.resolve("run");
        fakeCheckpoint(run, 1);
        Path two = fakeCheckpoint(run, 2);
        fakeCheckpoint(run, 3); // renamed in, but the pointer was not yet updated: latest stays authoritative
        point(run, "step-00000002\n");
        Checkpoint.Found f = Checkpoint.find(run).orElseThrow();
        assertEquals(two, f.dir());
        assertNull(f.warning());
    }

    @Test
    void aDamagedPointerFallsBackToTheNewestCompleteCheckpointOfTheRun() throws IOException {
        Path run = tmp.resolve("run");
        Path other = tmp.resolve("other");
        Path foreign = fakeCheckpoint(other, 7);
        fakeCheckpoint(run, 9);
        Path ten = fakeCheckpoint(run, 10);
        Path broken = Files.createDirectories(run.resolve("checkpoints/step-00000011")); // killed mid-way: no files
        assertTrue(Files.isDirectory(broken));
        for (String bad : new String[] {"", "   \n", "step-00000099", foreign.toString(), "../../other/checkpoints/step-00000007",
                "step-00000007/../../../other/checkpoints/step-00000007", "\u0000garbage"}) {
            point(run, bad);
            Checkpoint.Found f = Checkpoint.find(run).orElseThrow();
            assertEquals(ten, f.dir(), "pointer '" + bad + "'");
            assertTrue(f.warning() != null && f.warning().contains("step-00000010"), f.warning());
        }
        Files.delete(run.resolve("checkpoints").resolve(Checkpoint.LATEST));
        assertEquals(ten, Checkpoint.find(run).orElseThrow().dir(), "a missing pointer is the same damage");
    }

    @Test
    void aLinkToAnotherRunsCheckpointIsNotFollowed() throws IOException {
        Path run = tmp.resolve("run");
        Path mine = fakeCheckpoint(run, 1);
        Path foreign = fakeCheckpoint(tmp.resolve("other"), 5);
        Files.createSymbolicLink(run.resolve("checkpoints/step-00000005"), foreign);
        point(run, "step-00000005");
        assertEquals(mine, Checkpoint.find(run).orElseThrow().dir());
    }

    @Test
    void noUsableCheckpointIsOneLineNeverAFreshStart() throws IOException {
        Path run = tmp.resolve("run");
        Path only = fakeCheckpoint(run, 3);
        Files.delete(only.resolve(Checkpoint.OPTIMIZER));
        point(run, "");
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Checkpoint.find(run));
        assertEquals(ErrorCode.IO, e.code());
        assertTrue(e.getMessage().contains("latest is empty") && e.getMessage().contains("optimizer.safetensors"),
                e.getMessage());
        // the pointer is fine but names a damaged checkpoint: refused, naming the file, not silently replaced
        point(run, "step-00000003");
        e = assertThrows(OnnxLoraException.class, () -> Checkpoint.find(run));
        assertTrue(e.getMessage().contains("optimizer.safetensors is missing"), e.getMessage());
        assertEquals(Optional.empty(), Checkpoint.find(tmp.resolve("fresh")), "a run with no checkpoint has none");
    }

    @Test
    void everyCorruptStateIsOneLineNamingTheFile() throws IOException {
        Path dir = fakeCheckpoint(tmp.resolve("run"), 4);
        Path state = dir.resolve(Checkpoint.STATE);
        String[] bad = {"", "null", "[1]", "{", "{}", "{\"step\": 4}",
            "{\"step\": -5, \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": \"fp\"}",
            "{\"step\": 4, \"epoch\": 0, \"batchIndex\": -1, \"seed\": 1, \"fingerprint\": \"fp\"}",
            "{\"step\": 4.5, \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": \"fp\"}",
            "{\"step\": 1e40, \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": \"fp\"}",
            "{\"step\": \"four\", \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": \"fp\"}",
            "{\"step\": 4, \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": 12}",
            "{\"step\": 5, \"epoch\": 0, \"batchIndex\": 0, \"seed\": 1, \"fingerprint\": \"fp\"}"};
        for (String b : bad) {
            Files.writeString(state, b);
            OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Checkpoint.readState(dir), b);
            assertTrue(e.getMessage().contains(state.toString()) && e.getMessage().contains("damaged"), e.getMessage());
        }
        Files.writeString(state, "{\"step\": 4, \"epoch\": 0, \"batchIndex\": 4, \"seed\": 1, \"fingerprint\": \"fp\","
                + " \"lastLoss\": null}");
        assertTrue(Double.isNaN(Checkpoint.readState(dir).lastLoss()), "a loss recorded as null reads back as NaN");
    }

    @Test
    void aCheckpointWithoutItsMomentsIsOneLine() throws IOException {
        Path dir = fakeCheckpoint(tmp.resolve("run"), 2);
        Files.delete(dir.resolve(Checkpoint.OPTIMIZER));
        OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> Checkpoint.load(dir));
        assertTrue(e.getMessage().contains(Checkpoint.OPTIMIZER), e.getMessage());
    }
}
