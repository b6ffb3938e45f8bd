package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Verifier;

/**
 * A compiler pass's rewrite checked in ONNX Runtime: unoptimised, so that it is the rewrite that is compared, the
 * rewritten model gives every output of the model it came from on random batches, to a tolerance relative to the
 * larger of 1 and the reference's largest magnitude.
 */
final class SameOutputs {
    private SameOutputs() {}

    /** {@code tolerance} for float exports, {@code halfTolerance} for one with half-precision weights. */
    static void assertWithin(ModelProto before, ModelProto after, double tolerance, double halfTolerance) {
        boolean half = before.getGraph().getInitializerList().stream()
                .anyMatch(t -> t.getDataType() == TensorProto.DataType.FLOAT16_VALUE);
        Verifier.Report report = new Verifier(RuntimeOptions.defaults().withOptimize(false)).compare(before, after, 2, 5);
        for (Verifier.OutputDiff d : report.outputs()) {
            double tol = (half ? halfTolerance : tolerance) * Math.max(1, d.maxRefAbs());
            assertTrue(d.maxAbs() <= tol, d.output() + " differs by " + d.maxAbs() + " (tolerance " + tol + ")");
        }
    }
}
