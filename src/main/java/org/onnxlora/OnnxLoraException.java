package org.onnxlora;

/**
 * The one exception onnx-lora throws for anything a user can cause or fix. Its
 * message is a complete sentence naming the file, node or flag at fault; the CLI
 * prints it as one line and exits with {@link ErrorCode#exitCode()}.
 */
public final class OnnxLoraException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final ErrorCode code;

    public OnnxLoraException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    public OnnxLoraException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }
}
