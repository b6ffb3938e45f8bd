package org.onnxlora.train;

import java.util.OptionalDouble;
import org.onnxlora.lora.AdapterValues;
import org.onnxlora.data.Batch;

/**
 * Where a {@link Trainer} step gets its gradients and applies its update: one session accumulating
 * the step's micro-batches, or a data-parallel group whose sessions share each micro-batch and sum
 * their gradients before the update. Everything else about a step (metrics, validation,
 * checkpoints, divergence) is the Trainer's, the same for both.
 */
public interface GradientStep {

    /** Forward and backward over {@code batch}; gradients add up until {@link #applyUpdate}. */
    TrainingSession.Pass forwardBackward(Batch batch);

    /** One optimizer step on everything accumulated since the last; returns the gradient norm. */
    double applyUpdate(double lr);

    /**
     * A whole optimizer step on one batch (no accumulation): {@link #forwardBackward} then
     * {@link #applyUpdate}, which a single session may run as one graph ({@link TrainingSession#step}).
     */
    default TrainingSession.Step step(Batch batch, double lr) {
        TrainingSession.Pass p = forwardBackward(batch);
        return new TrainingSession.Step(p, applyUpdate(lr));
    }

    /**
     * Wall time the last {@link #applyUpdate} spent bringing the devices' gradients together (read,
     * sum, write back), for the step's metrics; empty where there is nothing to bring together.
     */
    default OptionalDouble allReduceSeconds() {
        return OptionalDouble.empty();
    }

    /** Restores a checkpoint's adapters and optimizer state everywhere they are held. */
    void setState(long step, AdapterValues adapters, AdapterValues expAvg, AdapterValues expAvgSq);

    /** A single session: the step is its own accumulation and update. */
    static GradientStep of(TrainingSession session) {
        return new GradientStep() {
            @Override
            public TrainingSession.Pass forwardBackward(Batch batch) {
                return session.forwardBackward(batch);
            }

            @Override
            public double applyUpdate(double lr) {
                return session.applyUpdate(lr);
            }

            @Override
            public TrainingSession.Step step(Batch batch, double lr) {
                return session.step(batch, lr);
            }

            @Override
            public void setState(long step, AdapterValues adapters, AdapterValues expAvg, AdapterValues expAvgSq) {
                session.setState(step, adapters, expAvg, expAvgSq);
            }
        };
    }
}
