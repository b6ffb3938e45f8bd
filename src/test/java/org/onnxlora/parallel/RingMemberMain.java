package org.onnxlora.parallel;

import java.nio.file.Path;
import java.time.Duration;

/** A ring member in its own JVM for {@link RingProcessKillTest}: joins through a folder, then sums forever. */
public final class RingMemberMain {
    private RingMemberMain() {}

    public static void main(String[] args) {
        int rank = Integer.parseInt(args[1]);
        int size = Integer.parseInt(args[2]);
        FolderExchange ex = new FolderExchange(Path.of(args[0]), size, Duration.ofSeconds(60));
        try (RingAllReduce ring = RingAllReduce.join(rank, size, "m", ex, RingOptions.loopback())) {
            float[] v = new float[73_728];
            while (true) {
                ring.sum(v, 1.0);
            }
        }
    }
}
