/**
 * Data-parallel training on Apache Spark: one worker per task of a barrier stage, gradients summed
 * through {@link org.onnxlora.parallel.RingAllReduce} (addresses exchanged once through
 * {@code BarrierTaskContext.allGather}), rank 0 checkpoints, a failed stage resumes from the last
 * checkpoint. Spark is provided by the cluster and never part of the core jar.
 */
package org.onnxlora.spark;
