package org.onnxlora.lora;

/**
 * One LoRA branch found in a patched graph: {@code output = base(X) + ((X·A)·B)·scaling}.
 *
 * @param modulePath the module path, from the adapter's tensor names
 * @param baseNode the projection node (MatMul or Gemm) whose output feeds the Add
 * @param baseOutput the projection's renamed output ({@code …_base})
 * @param output the Add's output, which downstream nodes read
 * @param loraA A initializer name
 * @param loraB B initializer name
 * @param scaling the scaling initializer name
 * @param branchNodes names of the four nodes the patch inserted (MatMul, MatMul, Mul, Add)
 */
public record LoraBranch(String modulePath, String baseNode, String baseOutput, String output, String loraA,
        String loraB, String scaling, java.util.List<String> branchNodes) {}
