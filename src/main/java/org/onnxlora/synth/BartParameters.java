package org.onnxlora.synth;

import org.onnxlora.synth.WeightPlan.Fill;

/**
 * Declares BART's named parameters in PyTorch {@code state_dict} order, which is the
 * order the TorchScript exporter writes them. Linear weights are absent on purpose: the
 * exporter stores them transposed as anonymous {@code onnx::MatMul_N} initializers,
 * declared by {@link BartGraphEmitter} where they are used.
 */
final class BartParameters {
    static final String SHARED = "model.shared.weight";

    private BartParameters() {}

    static void declare(WeightPlan plan, BartShape s) {
        long d = s.dModel();
        plan.random(SHARED, Fill.NORMAL, s.vocab(), d);
        plan.random("model.encoder.embed_positions.weight", Fill.NORMAL, s.positionRows(), d);
        for (int i = 0; i < s.encoderLayers(); i++) {
            String l = "model.encoder.layers." + i;
            attentionBiases(plan, l + ".self_attn", d);
            norm(plan, l + ".self_attn_layer_norm", d);
            ffnBiases(plan, l, s);
            norm(plan, l + ".final_layer_norm", d);
        }
        norm(plan, "model.encoder.layernorm_embedding", d);
        plan.random("model.decoder.embed_positions.weight", Fill.NORMAL, s.positionRows(), d);
        for (int i = 0; i < s.decoderLayers(); i++) {
            String l = "model.decoder.layers." + i;
            attentionBiases(plan, l + ".self_attn", d);
            norm(plan, l + ".self_attn_layer_norm", d);
            attentionBiases(plan, l + ".encoder_attn", d);
            norm(plan, l + ".encoder_attn_layer_norm", d);
            ffnBiases(plan, l, s);
            norm(plan, l + ".final_layer_norm", d);
        }
        norm(plan, "model.decoder.layernorm_embedding", d);
    }

    /** HF's BartAttention registers k, v, q, out in that order. */
    private static void attentionBiases(WeightPlan plan, String module, long d) {
        for (String p : new String[] {"k_proj", "v_proj", "q_proj", "out_proj"}) {
            plan.random(module + "." + p + ".bias", Fill.NORMAL, d);
        }
    }

    private static void ffnBiases(WeightPlan plan, String layer, BartShape s) {
        plan.random(layer + ".fc1.bias", Fill.NORMAL, s.ffn());
        plan.random(layer + ".fc2.bias", Fill.NORMAL, s.dModel());
    }

    private static void norm(WeightPlan plan, String module, long d) {
        plan.random(module + ".weight", Fill.NEAR_ONE, d);
        plan.random(module + ".bias", Fill.NORMAL, d);
    }
}
