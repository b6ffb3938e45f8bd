package org.onnxlora;

/**
 * The one exception onnx-lora throws for anything a user can cause or fix. Its
 * message is a complete sentence naming the file, node or setting at fault, in library terms;
 * where a caller's choice is at fault it also carries the {@link Setting}, which the CLI turns
 * into its flag. The CLI prints it as one line and exits with {@link ErrorCode#exitCode()}.
 */
public final class OnnxLoraException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final ErrorCode code;
    private final Setting setting;

    public OnnxLoraException(ErrorCode code, String message) {
        this(code, (Setting) null, message);
    }

    /** An error about the caller's choice of {@code setting}. */
    public OnnxLoraException(ErrorCode code, Setting setting, String message) {
        super(message);
        this.code = code;
        this.setting = setting;
    }

    public OnnxLoraException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
        this.setting = null;
    }

    /** The setting whose value is at fault, if a caller's choice is. */
    public java.util.Optional<Setting> setting() {
        return java.util.Optional.ofNullable(setting);
    }

    public ErrorCode code() {
        return code;
    }
}
