/**
 * Data parallelism: collectives that sum adapter gradients across workers, and the
 * per-worker step loop that uses them.
 *
 * <p>{@link org.onnxlora.parallel.AllReduce} sums a {@code float[]} (the flat adapter
 * gradients) and a few {@code double} counts (tokens, loss sum) in a fixed order, so every
 * worker gets bit-identical results and the same run twice gives the same adapters.
 * {@link org.onnxlora.parallel.LocalAllReduce} joins several sessions of one process (sums on
 * the host in device order); {@link org.onnxlora.parallel.RingAllReduce} joins processes over TCP
 * (reduce-scatter + all-gather on a ring), meeting through an
 * {@link org.onnxlora.parallel.AddressExchange} (Spark's barrier {@code allGather}, a shared
 * folder, or memory in tests). {@link org.onnxlora.parallel.DataParallelLoop} drives one
 * {@link org.onnxlora.parallel.DataParallelWorker} per rank: gradients, sum, the same optimizer
 * step everywhere, checkpoints on rank 0, resume from the last one.
 *
 * <p>Depends only on {@code io} and the JDK, so both the trainer and a Spark job can use it.
 */
package org.onnxlora.parallel;
