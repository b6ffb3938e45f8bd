package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * A set of trained LoRA adapters, independent of the file format they came from
 * (an onnx-lora run or checkpoint, a patched model, a PEFT folder): for every
 * adapted module its factors in onnx-lora's layout, its alpha and its scaling.
 *
 * <p>An adapter is also an {@link AdapterSource}: patching a base model with it
 * inserts exactly its modules with its values.
 *
 * @param origin where it was read from, for messages
 * @param useRslora whether the scalings are alpha/sqrt(r)
 * @param modules by canonical module path ({@code model.encoder.layers.0.self_attn.q_proj}), in file order
 */
public record Adapter(String origin, boolean useRslora, Map<String, Module> modules) implements AdapterSource {

    /**
     * One adapted module.
     *
     * @param path canonical module path
     * @param alpha its lora_alpha
     * @param tensors A [in,r], B [r,out] and the scaling
     * @param keyA name of A in the source file (PEFT key or onnx-lora tensor name), for messages
     * @param keyB name of B in the source file
     */
    public record Module(String path, double alpha, AdapterTensors tensors, String keyA, String keyB) {
        public int rank() {
            return tensors.rank();
        }

        public double scaling() {
            return tensors.scaling();
        }
    }

    public Adapter {
        if (modules.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, origin + " holds no LoRA adapters");
        }
        modules = Collections.unmodifiableMap(new LinkedHashMap<>(modules));
    }

    public Module module(String path) {
        return modules.get(path);
    }

    /** The update scaling·A·B of one module, or null when this adapter does not adapt it. */
    public double[] delta(String path) {
        Module m = modules.get(path);
        return m == null ? null : m.tensors().delta();
    }

    /**
     * Patching with this adapter: values looked up by module path, after checking that
     * the projection takes the adapter's shapes.
     */
    @Override
    public AdapterTensors valuesFor(Projection p, int rank, double scaling) {
        Module m = modules.get(p.modulePath());
        if (m == null) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, origin + " has no adapter for " + p.modulePath());
        }
        checkFits(m, p.in(), p.out());
        return m.tensors();
    }

    /** Fails, naming the source tensor, when the module's factors do not fit an {@code in}x{@code out} projection. */
    public void checkFits(Module m, long in, long out) {
        AdapterTensors t = m.tensors();
        if (t.in() != in) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, origin + ": '" + m.keyA() + "' expects "
                    + t.in() + " input features but " + m.path() + " in the model has " + in
                    + " (an adapter for a different model size?)");
        }
        if (t.out() != out) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, origin + ": '" + m.keyB() + "' produces "
                    + t.out() + " output features but " + m.path() + " in the model has " + out
                    + " (an adapter for a different model size?)");
        }
    }

    /**
     * The patch configuration that inserts exactly these modules: every module path
     * is its own target, with its own rank and alpha.
     */
    public LoraConfig patchConfig() {
        List<String> targets = new ArrayList<>(modules.keySet());
        Map<String, Integer> ranks = new LinkedHashMap<>();
        Map<String, Double> alphas = new LinkedHashMap<>();
        Map<Integer, Integer> rankCounts = new LinkedHashMap<>();
        Map<Double, Integer> alphaCounts = new LinkedHashMap<>();
        for (Module m : modules.values()) {
            ranks.put(m.path(), m.rank());
            alphas.put(m.path(), m.alpha());
            rankCounts.merge(m.rank(), 1, Integer::sum);
            alphaCounts.merge(m.alpha(), 1, Integer::sum);
        }
        // the most common rank and alpha are the defaults (what PEFT calls r and lora_alpha)
        int r = rankCounts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
        double alpha = alphaCounts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
        return new LoraConfig(r, alpha, targets, LoraConfig.Init.KAIMING, 0, useRslora, ranks, alphas);
    }

    /** alpha/r, or alpha/sqrt(r) with rsLoRA: PEFT's scaling. */
    public static double scaling(double alpha, int rank, boolean rslora) {
        return rslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }
}
