import com.google.protobuf.CodedOutputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.AdapterInit;
import org.onnxlora.lora.BranchMergePass;
import org.onnxlora.lora.LoraConfig;
import org.onnxlora.lora.ModelFamily;
import org.onnxlora.lora.PatchPass;
import org.onnxlora.lora.PatchPlan;
import org.onnxlora.proto.Onnx.ModelProto;

/**
 * Splits `patch` or `merge` of one model into phases (parse, transform, save) and prints
 * the time of each and the process memory after it, with RSS broken into anonymous
 * pages (Java heap and native) and file pages (the memory-mapped model, i.e. page
 * cache). Mirrors what Patcher/BranchMerger do. Then, for comparison under the same load: the
 * floor (the whole input copied with transferTo, as cp does, and fsynced) and the
 * previous save path (protobuf's stream chain, every byte through user space). The
 * RSS after the old path shows what it faults in. Linux only (reads /proc/self/status).
 *
 *   java -cp "target/onnx-lora.jar:target/lib/*" tools/bench/PatchMergePhases.java patch IN.onnx OUT.onnx
 *   java -cp "target/onnx-lora.jar:target/lib/*" tools/bench/PatchMergePhases.java merge PATCHED.onnx OUT.onnx
 */
public final class PatchMergePhases {
    private static long last = System.nanoTime();

    public static void main(String[] args) throws IOException {
        if (args.length != 3 || !(args[0].equals("patch") || args[0].equals("merge"))) {
            System.err.println("usage: PatchMergePhases patch|merge IN.onnx OUT.onnx");
            System.exit(2);
        }
        Path in = Path.of(args[1]);
        Path out = Path.of(args[2]);
        System.out.printf("| %s %s | seconds | RSS MB | anon (heap+native) MB | file (mapped model) MB | heap used / committed MB | GC count / ms |%n",
                args[0], in.getFileName());
        System.out.println("|---|---:|---:|---:|---:|---:|---:|");
        report("JVM start");
        ModelProto model = ModelIO.load(in);
        report("parse (mmap, aliased)");
        ModelProto result;
        if (args[0].equals("patch")) {
            LoraConfig cfg = new LoraConfig(8, 16, List.of("q_proj", "v_proj"), LoraConfig.Init.KAIMING, 0);
            PatchPass pass = new PatchPass(ModelFamily.bart());
            PatchPlan plan = pass.plan(model, null, cfg);
            result = pass.apply(model, cfg, plan, new AdapterInit(LoraConfig.Init.KAIMING, 0));
        } else {
            result = new BranchMergePass().apply(model, Map.of()).output();
        }
        report("transform");
        // What patch/merge do: ModelIO.save (unchanged weights copied from the source file with
        // transferTo, the rest written directly; then fsync and rename).
        ModelIO.save(result, out, ModelIO.ExternalData.NEVER);
        report("save (ModelIO.save: write + fsync + rename)");
        // The floor: the whole input copied in the kernel as cp does, then flushed.
        Path floor = out.resolveSibling(out.getFileName() + ".floor");
        try (FileChannel src = FileChannel.open(in, StandardOpenOption.READ);
                FileChannel dst = FileChannel.open(floor, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long at = 0, size = src.size(); at < size; ) {
                at += src.transferTo(at, size - at, dst);
            }
            report("floor: input -> transferTo (like cp)");
            dst.force(false);
            report("floor: fsync");
        } finally {
            Files.deleteIfExists(floor);
        }
        // The previous save path, for comparison under the same load: every byte through
        // CodedOutputStream -> BufferedOutputStream -> channel, faulting the mapping in.
        try (FileChannel ch = FileChannel.open(floor, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING);
                OutputStream os = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 20)) {
            CodedOutputStream cos = CodedOutputStream.newInstance(os, 1 << 16);
            result.writeTo(cos);
            cos.flush();
            os.flush();
            report("old path: protobuf streams -> page cache");
            ch.force(false);
            report("old path: fsync");
        } finally {
            Files.deleteIfExists(floor);
        }
    }

    private static void report(String phase) throws IOException {
        long now = System.nanoTime();
        Map<String, Long> kb = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            String[] kv = line.split(":\\s+");
            if (kv.length == 2 && kv[1].endsWith(" kB")) {
                kb.put(kv[0], Long.parseLong(kv[1].substring(0, kv[1].length() - 3).trim()));
            }
        }
        MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
        long gcCount = 0;
        long gcMs = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            gcCount += gc.getCollectionCount();
            gcMs += gc.getCollectionTime();
        }
        System.out.printf(Locale.ROOT, "| %s | %.2f | %d | %d | %d | %d / %d | %d / %d |%n", phase, (now - last) / 1e9,
                kb.getOrDefault("VmRSS", 0L) / 1024, kb.getOrDefault("RssAnon", 0L) / 1024,
                kb.getOrDefault("RssFile", 0L) / 1024, heap.getUsed() >> 20, heap.getCommitted() >> 20, gcCount, gcMs);
        last = System.nanoTime();
    }
}
