package org.onnxlora.lora;

import java.util.List;
import java.util.Map;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * The LoRA hyper-parameters of a patch, as PEFT names them.
 *
 * @param rank default rank r
 * @param alpha default lora_alpha; the branch is scaled by alpha/r (alpha/sqrt(r) with rsLoRA)
 * @param targets PEFT-style target module specs
 * @param init how A is initialised (B always starts at zero)
 * @param seed seed of A's initialisation; each module draws from its own stream keyed by its path
 * @param useRslora rank-stabilised scaling alpha/sqrt(r)
 * @param rankPattern per-module rank overrides (key: a PEFT target spec)
 * @param alphaPattern per-module alpha overrides
 */
public record LoraConfig(int rank, double alpha, List<String> targets, Init init, long seed, boolean useRslora,
        Map<String, Integer> rankPattern, Map<String, Double> alphaPattern) {

    /** A's initialisation; PEFT's {@code init_lora_weights}. */
    public enum Init {
        /** PEFT's default: kaiming-uniform with a=√5, i.e. U(−1/√in, 1/√in). */
        KAIMING,
        /** PEFT's "gaussian": N(0, 1/r). */
        GAUSSIAN
    }

    public LoraConfig {
        if (rank <= 0) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.RANK, "the LoRA rank must be positive, got " + rank);
        }
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.ALPHA, "the LoRA alpha must be a positive number, got " + alpha);
        }
        targets = List.copyOf(targets);
        rankPattern = rankPattern == null ? Map.of() : Map.copyOf(rankPattern);
        alphaPattern = alphaPattern == null ? Map.of() : Map.copyOf(alphaPattern);
        rankPattern.forEach((k, v) -> {
            if (v <= 0) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "rank_pattern['" + k + "'] must be positive");
            }
        });
    }

    public LoraConfig(int rank, double alpha, List<String> targets, Init init, long seed) {
        this(rank, alpha, targets, init, seed, false, Map.of(), Map.of());
    }

    /** Rank of one module: the first rank_pattern key that selects it, else the default. */
    public int rankFor(String modulePath) {
        for (Map.Entry<String, Integer> e : rankPattern.entrySet()) {
            if (new TargetSelector(List.of(e.getKey())).selectedBy(modulePath) != null) {
                return e.getValue();
            }
        }
        return rank;
    }

    public double alphaFor(String modulePath) {
        for (Map.Entry<String, Double> e : alphaPattern.entrySet()) {
            if (new TargetSelector(List.of(e.getKey())).selectedBy(modulePath) != null) {
                return e.getValue();
            }
        }
        return alpha;
    }

    public double scalingFor(String modulePath) {
        int r = rankFor(modulePath);
        double a = alphaFor(modulePath);
        return useRslora ? a / Math.sqrt(r) : a / r;
    }
}
