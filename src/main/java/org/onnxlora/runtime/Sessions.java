package org.onnxlora.runtime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import ai.onnxruntime.providers.OrtCUDAProviderOptions;
import java.nio.file.Path;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.ModelIO;
import org.onnxlora.proto.Onnx.ModelProto;

/** Creates ONNX Runtime sessions from models or files, with onnx-lora's options and error messages. */
public final class Sessions {
    private Sessions() {}

    public static OrtEnvironment env() {
        return OrtEnvironment.getEnvironment();
    }

    /** Session options for {@code opts}; the caller closes them after creating the session. */
    public static SessionOptions options(RuntimeOptions opts) {
        // The environment registers ORT's default logger; adding the CUDA provider before it exists
        // fails with "Attempt to use DefaultLogger but none has been registered".
        env();
        opts.requireApplicable();
        try {
            SessionOptions so = new SessionOptions();
            so.setOptimizationLevel(opts.optimize() ? OptLevel.ALL_OPT : OptLevel.NO_OPT);
            if (opts.threads() > 0) {
                so.setIntraOpNumThreads(opts.threads());
            }
            int interOp = opts.interOpThreads();
            if (interOp > 1) {
                so.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.PARALLEL);
            }
            if (opts.threads() > 0 || interOp > 1) {
                so.setInterOpNumThreads(interOp);
            }
            if (!opts.cpuArena()) {
                so.setCPUArenaAllocator(false);
            }
            if (opts.disablePrepacking()) {
                so.addConfigEntry("session.disable_prepacking", "1");
            }
            if (opts.optimizedModelPath() != null) {
                so.setOptimizedModelFilePath(opts.optimizedModelPath().toString());
            }
            // VERBOSE makes ORT print "Node placements": every node with the provider that runs it.
            // Otherwise ORT stays quiet: every failure it logs (in colour, on the process's stderr) is
            // also returned as the OrtException that onnx-lora reports in its own one line.
            so.setSessionLogLevel(opts.verboseLog() ? OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE
                    : OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
            if (opts.profilePrefix() != null) {
                so.enableProfiling(opts.profilePrefix().toString());
            }
            for (var e : opts.sessionConfigEntries().entrySet()) {
                so.addConfigEntry(e.getKey(), e.getValue());
            }
            for (var d : opts.symbolicDims().entrySet()) {
                so.setSymbolicDimensionValue(d.getKey(), d.getValue());
            }
            if (opts.memoryPattern().isPresent()) {
                so.setMemoryPatternOptimization(opts.memoryPattern().get());
            }
            if (opts.device().kind() == Device.Kind.CUDA) {
                addCuda(so, opts);
            }
            return so;
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "cannot configure ONNX Runtime: " + e.getMessage(), e);
        }
    }

    private static void addCuda(SessionOptions so, RuntimeOptions opts) {
        try (OrtCUDAProviderOptions cuda = new OrtCUDAProviderOptions(opts.device().index())) {
            for (var e : opts.effectiveCudaOptions().entrySet()) {
                cuda.add(e.getKey(), e.getValue());
            }
            so.addCUDA(cuda);
        } catch (OrtException | UnsatisfiedLinkError | IllegalArgumentException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "CUDA is not available: " + e.getMessage()
                    + " (build with -Pgpu for onnxruntime_gpu, and make sure CUDA 12 and cuDNN 9 libraries are on"
                    + " LD_LIBRARY_PATH)", e);
        }
    }

    /** Fails now, in one line, if {@code opts}' device cannot be used (before any long preparation). */
    public static void requireDevice(RuntimeOptions opts) {
        opts.requireApplicable();
        if (opts.device().kind() == Device.Kind.CPU) {
            return;
        }
        try (SessionOptions so = options(opts)) {
            so.getConfigEntries();
        }
    }

    public static OrtSession create(ModelProto model, RuntimeOptions opts, String what) {
        try (SessionOptions so = options(opts)) {
            return env().createSession(model.toByteArray(), so);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load " + what + ": " + e.getMessage(), e);
        }
    }

    /**
     * A session for a model file, which onnx-lora's own reader checks first: an empty, truncated or
     * non-ONNX file is an invalid model named as such, not an ONNX Runtime failure.
     */
    public static OrtSession create(Path file, RuntimeOptions opts) {
        ModelIO.load(file);
        try (SessionOptions so = options(opts)) {
            return env().createSession(file.toString(), so);
        } catch (OrtException e) {
            throw new OnnxLoraException(ErrorCode.RUNTIME, "ONNX Runtime cannot load " + file + ": " + e.getMessage(), e);
        }
    }
}
