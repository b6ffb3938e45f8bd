package org.onnxlora.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.io.Json;
import org.onnxlora.io.OutputGuard;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.report.EvalAttachment;

/** Where eval's result goes besides stdout (--out, --run), checked before any work is done. */
final class EvalOutputs {
    private final Path out;
    private final Path run;
    private final Path attached;

    private EvalOutputs(Path out, Path run, Path attached) {
        this.out = out;
        this.run = run;
        this.attached = attached;
    }

    static EvalOutputs check(Path out, Path run, String name, Path data, boolean force, Path... inputs) {
        Path attached = null;
        if (run != null) {
            attached = EvalAttachment.file(run, name != null ? name : EvalAttachment.defaultName(data));
            OutputGuard.check(attached, force, with(inputs, data));
        }
        if (out != null) {
            OutputGuard.check(out, force, with(inputs, data));
        }
        return new EvalOutputs(out, run, attached);
    }

    /** The run's adapters for a patched model given without --adapter: results attached to a run are the run's. */
    Path adapterFor(Path adapter, ModelProto model) {
        return adapter == null && run != null && LoraMetadata.read(model).isPresent() ? run : adapter;
    }

    /** Writes the result, with what was evaluated, to --out and the run; returns the files written. */
    List<Path> write(Map<String, Object> result, Path model, Path adapter, Path data) {
        Map<String, Object> o = new LinkedHashMap<>(result);
        o.put("model", model.toAbsolutePath().normalize().toString());
        o.put("adapter", adapter == null ? null : adapter.toAbsolutePath().normalize().toString());
        o.put("data", data.toAbsolutePath().normalize().toString());
        String json = Json.builder().setPrettyPrinting().serializeNulls().create().toJson(o);
        List<Path> written = new ArrayList<>();
        for (Path f : new Path[] {out, attached}) {
            if (f != null) {
                EvalAttachment.write(f, json);
                written.add(f);
            }
        }
        return written;
    }

    private static Path[] with(Path[] inputs, Path data) {
        Path[] all = java.util.Arrays.copyOf(inputs, inputs.length + 1);
        all[inputs.length] = data;
        return all;
    }
}
