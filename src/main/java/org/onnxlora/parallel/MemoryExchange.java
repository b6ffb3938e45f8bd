package org.onnxlora.parallel;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/** A rendezvous among threads of one process (ring members in one JVM: tests, the benchmark's thread mode). */
public final class MemoryExchange implements AddressExchange {
    private final String[] messages;
    private final CountDownLatch all;
    private final Duration timeout;

    public MemoryExchange(int size, Duration timeout) {
        this.messages = new String[size];
        this.all = new CountDownLatch(size);
        this.timeout = timeout;
    }

    @Override
    public List<String> allGather(int rank, String message) {
        synchronized (messages) {
            messages[rank] = message;
        }
        all.countDown();
        try {
            if (!all.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, "not every rank reached the rendezvous within "
                        + timeout.toSeconds() + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "interrupted at the rendezvous", e);
        }
        synchronized (messages) {
            return Arrays.asList(messages.clone());
        }
    }
}
