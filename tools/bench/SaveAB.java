// Save-only A/B in one warm JVM: the fast save path (ModelIO.save), the previous stream path
// (protobuf CodedOutputStream -> BufferedOutputStream -> channel), and a whole-file transferTo as
// cp does, all through AtomicFiles (fsync + rename), alternating, with `sync` before each.
// Uses package-private classes, so it is compiled into the io package:
//   javac -cp "target/classes:target/lib/*" -d /tmp/saveab tools/bench/SaveAB.java
//   java -cp "target/classes:target/lib/*:/tmp/saveab" org.onnxlora.io.SaveAB IN.onnx /tmp/out.onnx 7
package org.onnxlora.io;
import com.google.protobuf.CodedOutputStream;
import java.io.*; import java.nio.channels.*; import java.nio.file.*; import java.util.*;
import org.onnxlora.proto.Onnx.*;
public class SaveAB {
  static void sync() throws Exception { new ProcessBuilder("sync").inheritIO().start().waitFor(); }
  public static void main(String[] a) throws Exception {
    Path in = Path.of(a[0]); Path out = Path.of(a[1]); int rounds = Integer.parseInt(a[2]);
    ModelProto m = ModelIO.load(in);
    Map<String, List<Double>> res = new TreeMap<>();
    for (int r = 0; r < rounds; r++) {
      for (String v : List.of("new save", "old save", "cp-like transferTo+fsync")) {
        Files.deleteIfExists(out); sync();
        long t0 = System.nanoTime();
        switch (v) {
          case "new save" -> ModelIO.save(m, out, ModelIO.ExternalData.NEVER);
          case "old save" -> AtomicFiles.write(out, os -> { CodedOutputStream c = CodedOutputStream.newInstance(os, 1 << 16); m.writeTo(c); c.flush(); return null; });
          default -> AtomicFiles.writeChannel(out, dst -> { try (FileChannel src = FileChannel.open(in)) { for (long at = 0, n = src.size(); at < n; ) at += src.transferTo(at, n - at, dst); } return null; });
        }
        res.computeIfAbsent(v, k -> new ArrayList<>()).add((System.nanoTime() - t0) / 1e9);
      }
    }
    for (var e : res.entrySet()) { List<Double> l = new ArrayList<>(e.getValue()); Collections.sort(l); System.out.printf("%-26s median %.2f  all %s%n", e.getKey(), l.get(l.size() / 2), e.getValue().stream().map(x -> String.format("%.2f", x)).toList()); }
    System.out.println("load " + Files.readString(Path.of("/proc/loadavg")).trim());
    Files.deleteIfExists(out);
  }
}
