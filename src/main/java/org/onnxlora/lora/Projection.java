package org.onnxlora.lora;

/**
 * One linear layer of an attention block as it appears in the graph:
 * {@code output = input · W (+ bias)}, where W is an initializer.
 *
 * @param modulePath canonical Hugging Face path, e.g. {@code model.encoder.layers.0.self_attn.q_proj}
 * @param role encoder-self-attention, decoder-self-attention or decoder-cross-attention
 * @param node name of the MatMul/Gemm node
 * @param opType MatMul or Gemm
 * @param input the activation the projection reads
 * @param weight the weight initializer
 * @param weightTransposed true when the stored weight is {@code [out,in]} (Gemm transB=1, or a Transpose node)
 * @param gemmAlpha Gemm's alpha (1 for MatMul): the stored weight is scaled by it in the product
 * @param output the node's output value
 * @param in input features
 * @param out output features
 * @param bias bias initializer, or null
 * @param dataType ONNX element type of the weight
 * @param sharedWeight the weight initializer is read by other nodes too (tied weights)
 */
public record Projection(
        String modulePath,
        String role,
        String node,
        String opType,
        String input,
        String weight,
        boolean weightTransposed,
        float gemmAlpha,
        String output,
        long in,
        long out,
        String bias,
        int dataType,
        boolean sharedWeight) {

    /** The last component of the module path: q_proj, k_proj, v_proj or out_proj. */
    public String shortName() {
        return modulePath.substring(modulePath.lastIndexOf('.') + 1);
    }

    public String loraA() {
        return modulePath + ".lora_A";
    }

    public String loraB() {
        return modulePath + ".lora_B";
    }

    public String scalingName() {
        return modulePath + ".lora_scaling";
    }
}
