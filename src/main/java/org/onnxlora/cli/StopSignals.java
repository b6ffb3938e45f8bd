package org.onnxlora.cli;

import java.util.LinkedHashMap;
import org.onnxlora.api.StopRequest;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Ctrl-C (SIGINT) and SIGTERM while training: the first asks the trainer to stop after
 * the step in flight and write a checkpoint; a second one quits at once (checkpoints are
 * written atomically, so even that loses nothing but the current step).
 *
 * <p>A shutdown hook cannot do this: the JVM has begun exiting when hooks run, and a
 * hook that waits for the training thread races the exit. Replacing the JVM's handlers
 * for the two signals (and putting them back afterwards) keeps the decision with the
 * training loop. {@code sun.misc.Signal} is the JDK's supported-but-unofficial way to do
 * that (module jdk.unsupported); where the JVM refuses (e.g. {@code -Xrs}) the signals
 * keep their default effect.
 */
final class StopSignals implements StopRequest {
    private final Output output;
    private final AtomicInteger received = new AtomicInteger();
    private final Map<Signal, SignalHandler> previous = new LinkedHashMap<>();

    private StopSignals(Output output) {
        this.output = output;
    }

    static StopSignals install(Output output) {
        StopSignals s = new StopSignals(output);
        for (String name : new String[] {"INT", "TERM"}) {
            try {
                Signal sig = new Signal(name);
                s.previous.put(sig, Signal.handle(sig, s::onSignal));
            } catch (IllegalArgumentException e) {
                // the JVM keeps this signal (-Xrs, or not on this OS): it stops the process as before
            }
        }
        return s;
    }

    private void onSignal(Signal sig) {
        if (received.compareAndSet(0, sig.getNumber())) {
            output.info("%nSIG%s: stopping after the current step and writing a checkpoint (again to quit at once)",
                    sig.getName());
        } else {
            Runtime.getRuntime().halt(128 + sig.getNumber());
        }
    }

    @Override
    public boolean requested() {
        return received.get() != 0;
    }

    /** The shell's convention for death by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM). */
    int exitCode() {
        return 128 + received.get();
    }

    @Override
    public void close() {
        previous.forEach(Signal::handle);
    }
}
