package org.onnxlora.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.testing.ChildJvm;

/** Ring members in separate JVMs; one is SIGKILLed mid-run. */
class RingProcessKillTest {
    @TempDir
    Path tmp;

    @Test
    void aKilledPeerFailsTheSurvivorWithinTheTimeoutNamingIt() throws Exception {
        int size = 3;
        List<Process> procs = new ArrayList<>();
        try {
            for (int r = 1; r < size; r++) {
                List<String> cmd = new ArrayList<>(ChildJvm.testMain(RingMemberMain.class, "-Xmx128m"));
                cmd.addAll(List.of(tmp.toString(), String.valueOf(r), String.valueOf(size)));
                procs.add(new ProcessBuilder(cmd)
                        .redirectErrorStream(true).redirectOutput(tmp.resolve("out-" + r + ".txt").toFile()).start());
            }
            FolderExchange ex = new FolderExchange(tmp, size, Duration.ofSeconds(60));
            RingOptions opts = RingOptions.loopback().withStepTimeout(Duration.ofSeconds(20));
            try (RingAllReduce ring = RingAllReduce.join(0, size, "m", ex, opts)) {
                float[] v = new float[73_728];
                for (int i = 0; i < 50; i++) {
                    assertEquals(size, ring.sum(v, 1.0), 0);
                }
                // rank 2 is rank 0's left neighbour: kill it while the ring is busy
                procs.get(1).destroyForcibly();
                long t0 = System.nanoTime();
                OnnxLoraException e = assertThrows(OnnxLoraException.class, () -> {
                    while (true) {
                        ring.sum(v, 1.0);
                    }
                });
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertEquals(ErrorCode.COLLECTIVE, e.code());
                assertTrue(e.getMessage().contains("rank 2 (127.0.0.1:"), e.getMessage());
                assertTrue(ms < 20_000, "failed after " + ms + " ms, within the 20 s timeout");
                // and the failure goes round: rank 1 fails too and exits instead of hanging
                assertTrue(procs.get(0).waitFor(30, TimeUnit.SECONDS), "rank 1 exits");
                assertTrue(procs.get(0).exitValue() != 0);
            }
        } finally {
            for (Process p : procs) {
                p.destroyForcibly();
            }
        }
    }
}
