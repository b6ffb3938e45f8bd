package org.onnxlora.synth;

import java.util.ArrayList;
import java.util.List;
import org.onnxlora.graph.Attrs;
import org.onnxlora.synth.WeightPlan.Fill;

/**
 * Emits the forward graph of BartForConditionalGeneration node by node, with the scopes,
 * op sequences and initializer conventions of {@code torch.onnx.export(dynamo=False)}.
 *
 * <p>The projections, attention core, GELU, layer norms, embeddings and lm_head follow
 * the exporter exactly. Shape arithmetic is simpler than the exporter's (masks are built
 * as {@code [batch,1,1,src]} padding and {@code [tgt,tgt]} causal additive masks, with
 * no KV-cache plumbing) but works for any batch and sequence lengths.
 */
final class BartGraphEmitter {
    static final String INPUT_IDS = "input_ids";
    static final String ATTENTION_MASK = "attention_mask";
    static final String DECODER_INPUT_IDS = "decoder_input_ids";
    static final String LOGITS = "logits";
    /** Placeholder prefix for anonymous weights; {@link SyntheticBart} numbers them once the graph is complete. */
    static final String ANONYMOUS = "\u0000anon:";

    private static final long BOOL = 9;

    private final BartShape shape;
    private final ExporterOps ops;
    private final WeightPlan plan;
    private final List<String> anonymous = new ArrayList<>();

    BartGraphEmitter(BartShape shape, ExporterOps ops, WeightPlan plan) {
        this.shape = shape;
        this.ops = ops;
        this.plan = plan;
    }

    /** Placeholder names of the anonymous weights, in the order the graph uses them. */
    List<String> anonymousWeights() {
        return anonymous;
    }

    void emit() {
        String encoded = encoder();
        String decoded = decoder(encoded);
        String lmHead = anonymousWeight("MatMul", null, 0, 0);
        plan.transposeOf(lmHead, BartParameters.SHARED);
        String projected = ops.op("/lm_head", "MatMul", decoded, lmHead);
        String bias = anonymousWeight("Add", Fill.NORMAL, 1, shape.vocab());
        ops.opTo("", "Add", List.of(projected, bias), LOGITS);
    }

    private String anonymousWeight(String consumer, Fill fill, long rows, long cols) {
        String name = ANONYMOUS + consumer + ":" + anonymous.size();
        anonymous.add(name);
        if (fill != null) {
            plan.random(name, fill, rows, cols);
        }
        return name;
    }

    private String encoder() {
        String x = embed("/model/encoder", INPUT_IDS);
        String mask = paddingMask("/model/encoder");
        for (int i = 0; i < shape.encoderLayers(); i++) {
            x = encoderLayer("/model/encoder/layers." + i, x, mask);
        }
        return x;
    }

    private String decoder(String encoded) {
        String s = "/model/decoder";
        String x = embed(s, DECODER_INPUT_IDS);
        String causal = causalMask(s);
        String cross = paddingMask(s);
        for (int i = 0; i < shape.decoderLayers(); i++) {
            x = decoderLayer(s + "/layers." + i, x, encoded, causal, cross);
        }
        return x;
    }

    /** Token embedding (scale 1.0, as BART's {@code scale_embedding=False}) + learned positions + layernorm_embedding. */
    private String embed(String stack, String ids) {
        String tokens = ops.op(stack + "/embed_tokens", "Gather", BartParameters.SHARED, ids);
        tokens = ops.op(stack + "/embed_tokens", "Mul", tokens, ops.scalar(stack + "/embed_tokens", 1.0));
        String p = stack + "/embed_positions";
        String len = ops.dim(p, ids, 1);
        String range = ops.op(p, "Range", List.of(ops.int0(p, 0), len, ops.int0(p, 1)));
        String positions = ops.op(p, "Add", range, ops.int0(p, BartShape.POSITION_OFFSET));
        String table = p.substring(1).replace('/', '.') + ".weight";
        String pos = ops.op(p, "Gather", table, positions);
        pos = ops.op(stack, "Cast", pos, Attrs.i("to", ops.floatType()));
        String x = ops.op(stack, "Add", tokens, pos);
        return layerNorm(stack + "/layernorm_embedding", x);
    }

    /** {@code attention_mask [b,s]} → additive {@code [b,1,1,s]}: 0 where attended, the dtype's minimum where padded. */
    private String paddingMask(String stack) {
        String keep = ops.op(stack, "Cast", ATTENTION_MASK, Attrs.i("to", BOOL));
        keep = ops.unsqueeze(stack, keep, 1, 2);
        return additive(stack, keep);
    }

    /** Additive {@code [t,t]} mask letting query q see keys k ≤ q. */
    private String causalMask(String stack) {
        String len = ops.dim(stack, DECODER_INPUT_IDS, 1);
        String range = ops.op(stack, "Range", List.of(ops.int0(stack, 0), len, ops.int0(stack, 1)));
        String keys = ops.unsqueeze(stack, range, 0);
        String queries = ops.unsqueeze(stack, range, 1);
        return additive(stack, ops.op(stack, "LessOrEqual", keys, queries));
    }

    private String additive(String stack, String keep) {
        return ops.op(stack, "Where",
                List.of(keep, ops.scalar(stack, 0.0), ops.scalar(stack, shape.dtype().maskValue())));
    }

    private String encoderLayer(String l, String x, String mask) {
        String a = attention(l + "/self_attn", x, x, mask, true);
        x = layerNorm(l + "/self_attn_layer_norm", ops.op(l, "Add", x, a));
        return layerNorm(l + "/final_layer_norm", ops.op(l, "Add", x, feedForward(l, x)));
    }

    private String decoderLayer(String l, String x, String encoded, String causal, String cross) {
        String a = attention(l + "/self_attn", x, x, causal, true);
        x = layerNorm(l + "/self_attn_layer_norm", ops.op(l, "Add", x, a));
        String c = attention(l + "/encoder_attn", x, encoded, cross, false);
        x = layerNorm(l + "/encoder_attn_layer_norm", ops.op(l, "Add", x, c));
        return layerNorm(l + "/final_layer_norm", ops.op(l, "Add", x, feedForward(l, x)));
    }

    private String feedForward(String l, String x) {
        String h = linear(l + "/fc1", x, shape.dModel(), shape.ffn());
        return linear(l + "/fc2", gelu(l + "/activation_fn", h), shape.ffn(), shape.dModel());
    }

    /** Exact GELU as the exporter writes {@code nn.functional.gelu}: x·(1+erf(x/√2))·0.5. */
    private String gelu(String s, String x) {
        String erf = ops.op(s, "Erf", ops.op(s, "Div", x, ops.scalar(s, Math.sqrt(2.0))));
        String onePlus = ops.op(s, "Add", erf, ops.scalar(s, 1.0));
        return ops.op(s, "Mul", ops.op(s, "Mul", x, onePlus), ops.scalar(s, 0.5));
    }

    private String layerNorm(String module, String x) {
        String m = module.substring(1).replace('/', '.');
        return ops.op(module, "LayerNormalization", List.of(x, m + ".weight", m + ".bias"),
                Attrs.i("axis", -1), Attrs.f("epsilon", 1e-5f));
    }

    /** {@code nn.Linear} as exported: MatMul with an anonymous [in,out] weight, then Add(bias, ·). */
    private String linear(String module, String x, long in, long out) {
        String w = anonymousWeight("MatMul", Fill.NORMAL, in, out);
        String y = ops.op(module, "MatMul", x, w);
        return ops.op(module, "Add", module.substring(1).replace('/', '.') + ".bias", y);
    }

    /** BartAttention (eager path): scores = (q·kᵀ)·d^-½ + mask → Softmax → ·v, heads split by Reshape/Transpose. */
    private String attention(String s, String x, String kv, String mask, boolean self) {
        long d = shape.dModel();
        long hd = shape.headDim();
        String bsz = ops.dim(s, x, 0);
        String tgt = ops.dim(s, x, 1);
        String q = linear(s + "/q_proj", x, d, d);
        String qShape = ops.shapeOf(s, bsz, tgt, -1L, hd);
        String kShape = null;
        String vShape = null;
        if (self) {
            kShape = ops.shapeOf(s, bsz, tgt, -1L, hd);
            vShape = ops.shapeOf(s, bsz, tgt, -1L, hd);
        }
        q = ops.transpose(s, ops.reshape(s, q, qShape), 0, 2, 1, 3);
        String k = linear(s + "/k_proj", kv, d, d);
        String v = linear(s + "/v_proj", kv, d, d);
        if (!self) {
            String src = ops.dim(s, kv, 1);
            kShape = ops.shapeOf(s, bsz, src, -1L, hd);
            vShape = ops.shapeOf(s, bsz, src, -1L, hd);
        }
        k = ops.reshape(s, k, kShape);
        v = ops.reshape(s, v, vShape);
        v = ops.transpose(s, v, 0, 2, 1, 3);
        k = ops.transpose(s, k, 0, 2, 3, 1);
        String scores = ops.op(s, "MatMul", q, k);
        scores = ops.op(s, "Mul", scores, ops.scalar(s, 1.0 / Math.sqrt(hd)));
        scores = ops.op(s, "Add", scores, mask);
        String probs = ops.op(s, "Softmax", scores, Attrs.i("axis", -1));
        String ctx = ops.transpose(s, ops.op(s, "MatMul", probs, v), 0, 2, 1, 3);
        ctx = ops.reshape(s, ctx, ops.shapeOf(s, bsz, tgt, -1L));
        return linear(s + "/out_proj", ctx, d, d);
    }
}
