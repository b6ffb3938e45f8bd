// One rank of the all-reduce benchmark (tools/bench/allreduce.sh starts N of these JVMs):
// joins the socket ring through a shared folder, runs warm-up calls, then times each
// RingAllReduce.sum of the payload and prints median / p10 / p90 in ms (rank 0 only).
//   javac -cp target/classes -d /tmp/arbench tools/bench/AllReduceBench.java
//   java -cp target/classes:target/lib/*:/tmp/arbench AllReduceBench FOLDER RANK SIZE FLOATS ITERS
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.onnxlora.parallel.FolderExchange;
import org.onnxlora.parallel.RingAllReduce;
import org.onnxlora.parallel.RingOptions;

public class AllReduceBench {
    public static void main(String[] a) {
        Path folder = Path.of(a[0]);
        int rank = Integer.parseInt(a[1]);
        int size = Integer.parseInt(a[2]);
        int n = Integer.parseInt(a[3]);
        int iters = Integer.parseInt(a[4]);
        FolderExchange ex = new FolderExchange(folder, size, Duration.ofSeconds(120));
        try (RingAllReduce ring = RingAllReduce.join(rank, size, "bench", ex, RingOptions.loopback())) {
            float[] v = new float[n];
            double[] counts = {1, 1};
            for (int i = 0; i < Math.max(50, iters / 5); i++) {
                Arrays.fill(v, rank);
                ring.sum(v, counts);
            }
            long[] t = new long[iters];
            for (int i = 0; i < iters; i++) {
                Arrays.fill(v, rank); // a fresh gradient each step, as in training
                counts[0] = 1;
                long t0 = System.nanoTime();
                ring.sum(v, counts);
                t[i] = System.nanoTime() - t0;
            }
            float expect = size * (size - 1) / 2f;
            if (v[n - 1] != expect || counts[0] != size) {
                throw new IllegalStateException("wrong sum " + v[n - 1] + " / " + counts[0]);
            }
            if (rank == 0) {
                Arrays.sort(t);
                System.out.printf("| %d | %d | %.2f | %.3f | %.3f | %.3f | %d |%n", size, n, n * 4 / 1e6,
                        t[iters / 2] / 1e6, t[iters / 10] / 1e6, t[iters * 9 / 10] / 1e6, iters);
            }
        }
    }
}
