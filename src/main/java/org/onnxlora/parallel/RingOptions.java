package org.onnxlora.parallel;

import java.time.Duration;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * How a ring member listens and how long it waits.
 *
 * @param bindHost the address this member listens on and publishes (an interface the other members reach)
 * @param connectTimeout how long joining may take once the addresses are known (connect, accept, hello)
 * @param stepTimeout how long an all-reduce may go without progress before the silent neighbour is declared gone
 */
public record RingOptions(String bindHost, Duration connectTimeout, Duration stepTimeout) {
    public RingOptions {
        if (bindHost == null || bindHost.isBlank()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "the all-reduce needs an address to listen on");
        }
        if (connectTimeout.isNegative() || connectTimeout.isZero() || stepTimeout.isNegative() || stepTimeout.isZero()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "all-reduce timeouts must be positive");
        }
    }

    /** Loopback, one minute to join, one minute without progress. */
    public static RingOptions loopback() {
        return new RingOptions("127.0.0.1", Duration.ofSeconds(60), Duration.ofSeconds(60));
    }

    public RingOptions withStepTimeout(Duration d) {
        return new RingOptions(bindHost, connectTimeout, d);
    }

    public RingOptions withBindHost(String host) {
        return new RingOptions(host, connectTimeout, stepTimeout);
    }
}
