package org.onnxlora.parallel;

/**
 * A worker that hands every call to another: the base of wrappers that add something to a few
 * calls (timings, injected faults) and must not drop the others.
 */
public abstract class ForwardingWorker implements DataParallelWorker {
    private final DataParallelWorker inner;

    protected ForwardingWorker(DataParallelWorker inner) {
        this.inner = inner;
    }

    @Override
    public String fingerprint() {
        return inner.fingerprint();
    }

    @Override
    public long latestCheckpoint() {
        return inner.latestCheckpoint();
    }

    @Override
    public void restore(long step) {
        inner.restore(step);
    }

    @Override
    public StepGradients computeGradients(long step) {
        return inner.computeGradients(step);
    }

    @Override
    public void applySummed(long step, float[] gradients, double tokens) {
        inner.applySummed(step, gradients, tokens);
    }

    @Override
    public void logStep(StepRecord record) {
        inner.logStep(record);
    }

    @Override
    public void checkpoint(long step) {
        inner.checkpoint(step);
    }

    @Override
    public void finish(long steps) {
        inner.finish(steps);
    }

    @Override
    public void close() {
        inner.close();
    }
}
