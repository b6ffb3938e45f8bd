package org.onnxlora.train;

import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.Device;
import org.onnxlora.runtime.FusedKernels;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/**
 * Opens the training, eval and optimizer graphs with one runtime configuration: the forward graphs
 * with the shared frozen weights, and each with its own profile file when profiling
 * ({@code PREFIX_training}, {@code PREFIX_optimizer}, {@code PREFIX_eval}).
 */
final class GraphSessions {
    /** Where ONNX Runtime looks for the external data of a model given as bytes. */
    private static final String EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path";
    private final RuntimeOptions options;
    private final FrozenWeights frozen;

    GraphSessions(RuntimeOptions options, FrozenWeights frozen) {
        this.options = options;
        this.frozen = frozen;
    }

    /**
     * A forward graph from its file, so ONNX Runtime resolves its external data; frozen weights shared. The graph
     * as {@link DeviceGraphs} rewrites it for the device, its external data still read beside {@code file}.
     */
    OrtSession openWithFrozen(Path file, String what) {
        try (SessionOptions so = Sessions.options(profiled(what))) {
            frozen.addTo(so);
            boolean cpu = options.device().kind() == Device.Kind.CPU;
            boolean kernels = FusedKernels.inUse(options);
            ModelProto rewritten = DeviceGraphs.rewritten(file,
                    new DeviceGraphs.Rewrites(cpu, options.headCopiesByGather(), kernels));
            if (rewritten != null) {
                if (kernels) {
                    FusedKernels.register(so, options.device());
                }
                so.addConfigEntry(EXTERNAL_DATA_FOLDER, file.toAbsolutePath().getParent().toString());
                return Sessions.env().createSession(rewritten.toByteArray(), so);
            }
            return Sessions.env().createSession(file.toString(), so);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load the " + what + " graph: "
                    + e.getMessage(), e);
        }
    }

    /** A graph without frozen weights (the optimizer), from memory. */
    OrtSession open(ModelProto model, String what) {
        return Sessions.create(model, profiled(what), "the " + what + " graph");
    }

    private RuntimeOptions profiled(String what) {
        return options.profilePrefix() == null ? options
                : options.withProfilePrefix(Path.of(options.profilePrefix() + "_" + what));
    }

    /** Ends profiling of {@code sessions} and returns their profile files, in order; empty when not profiling. */
    List<Path> endProfiling(List<OrtSession> sessions) {
        if (options.profilePrefix() == null) {
            return List.of();
        }
        List<Path> files = new ArrayList<>();
        try {
            for (OrtSession s : sessions) {
                files.add(Path.of(s.endProfiling()));
            }
            return files;
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot end profiling: " + e.getMessage(), e);
        }
    }
}
