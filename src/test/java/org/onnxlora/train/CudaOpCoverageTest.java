package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.testing.Fixtures;

/**
 * Every op of the compiled graphs has a kernel in the CUDA provider of the stock GPU build, so that
 * on CUDA nothing but shape arithmetic runs on the CPU. CI has no GPU: the list below is what ORT
 * 1.29's CUDA provider placed on CUDA on the H100 (tools/gpu/run-on-device.sh, phase placement);
 * an op outside it needs that check again. SoftmaxCrossEntropyLoss, for one, exists on the CPU only
 * (its CUDA kernel is in ORT's training build), which is why the loss is LogSoftmax + GatherElements.
 * {@code com.microsoft:Gelu} (from GeluFusionPass, added after that device run) is registered for
 * float, double and float16 in ORT's CUDA contrib kernels (cuda_contrib_kernels.cc), but has not been
 * observed on the H100 yet: the next device run's placement check covers it. The same holds for
 * {@code ScatterElements} (the loss backward writes the label column with it instead of building a
 * OneHot target): stock ORT's CUDA provider registers it for every fixed-size type
 * (core/providers/cuda/tensor/scatter_elements.cc); not yet observed on a device. {@code Less} (int64, from
 * GatherNdLoweringPass's negative-index normalisation on the dynamo exports' masks) ran in session 11's H200
 * run of every export under CUDA graphs, which capture only device kernels. {@code Split} (SiblingAdapterPass: the
 * product of sibling LoRA A adapters split back per adapter) is registered for every type from opset 2 to 18 in
 * stock ORT's CUDA provider (core/providers/cuda/tensor/split.cc); it ran in session 12's H200 run of every export
 * under CUDA graphs.
 */
@ExtendWith(TrainingGoldens.class)
class CudaOpCoverageTest {
    static final Set<String> CUDA_OPS = Set.of(
            "Add", "And", "Cast", "Concat", "Constant", "ConstantOfShape", "Div", "Equal", "Erf", "Exp", "Expand",
            "Flatten", "Gather", "GatherElements", "GatherND", "Gemm", "GreaterOrEqual", "Identity", "LayerNormalization",
            "Less", "LessOrEqual", "LogSoftmax", "MatMul", "Max", "Min", "Mul", "Neg", "NonZero", "Not", "OneHot", "Pow", "Range",
            "Reciprocal", "ReduceSum", "Reshape", "ScatterElements", "Shape", "Size", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Transpose",
            "Unsqueeze", "Where", "com.microsoft:FusedMatMul", "com.microsoft:Gelu");

    @ParameterizedTest
    @MethodSource("org.onnxlora.testing.Fixtures#bothExporters")
    void compiledGraphsUseOnlyOpsWithCudaKernels(Path model) {
        // bf16/fp16 graphs add only Cast nodes; their half-type kernels are phase 'half''s placement check
        for (Precision p : new Precision[] {Precision.FP32, Precision.BF16, Precision.FP16}) {
            for (org.onnxlora.autodiff.Recompute r : org.onnxlora.autodiff.Recompute.values()) {
                TrainingCompiler.Artifacts art = new TrainingCompiler().compile(TrainingParityTest.patchedLikeGoldens(model),
                        TrainingCompiler.Options.defaults().withPrecision(p).withRecompute(r));
                check(art);
            }
        }
    }

    private static void check(TrainingCompiler.Artifacts art) {
        ModelProto step = FusedStepGraph.build(art.training(), art.optimizer(), new AdapterLayout(art.adapters()));
        for (ModelProto m : new ModelProto[] {art.training(), art.eval(), art.optimizer(), step}) {
            Set<String> missing = new TreeSet<>();
            for (NodeProto n : m.getGraph().getNodeList()) {
                String op = n.getDomain().isEmpty() || n.getDomain().equals("ai.onnx") ? n.getOpType()
                        : n.getDomain() + ":" + n.getOpType();
                if (!CUDA_OPS.contains(op)) {
                    missing.add(op);
                }
            }
            assertEquals(Set.of(), missing, m.getGraph().getName() + ": ops not known to run on CUDA");
        }
    }
}
