package org.onnxlora.lora;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.Setting;

/**
 * PEFT's {@code target_modules} rules: a plain name selects every module whose path
 * ends with it ({@code q_proj} matches {@code model.encoder.layers.0.self_attn.q_proj},
 * {@code encoder_attn.q_proj} only cross-attention); a spec with regex characters must
 * match the whole path ({@code .*decoder.*(q|v)_proj}).
 */
public final class TargetSelector {
    private static final Pattern REGEX_CHARS = Pattern.compile("[\\\\^$*+?()\\[\\]{}|]");

    private final List<String> specs;
    private final List<Pattern> regexes = new ArrayList<>();

    public TargetSelector(List<String> specs) {
        if (specs == null || specs.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.TARGETS,
                    "no target modules given (e.g. q_proj,v_proj)");
        }
        this.specs = List.copyOf(specs);
        for (String s : specs) {
            if (s.isBlank()) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.TARGETS, "empty name among the target modules");
            }
            try {
                regexes.add(isRegex(s) ? Pattern.compile(s) : null);
            } catch (PatternSyntaxException e) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, Setting.TARGETS,
                        "target '" + s + "' is not a valid regular expression: " + e.getDescription());
            }
        }
    }

    public static boolean isRegex(String spec) {
        return REGEX_CHARS.matcher(spec).find();
    }

    public List<String> specs() {
        return specs;
    }

    /** The first spec selecting {@code modulePath}, or null. */
    public String selectedBy(String modulePath) {
        for (int i = 0; i < specs.size(); i++) {
            if (matches(i, modulePath)) {
                return specs.get(i);
            }
        }
        return null;
    }

    private boolean matches(int i, String path) {
        Pattern p = regexes.get(i);
        if (p != null) {
            return p.matcher(path).matches();
        }
        String s = specs.get(i);
        return path.equals(s) || path.endsWith("." + s);
    }

    /** Fails, listing what exists, when some spec selects none of {@code paths}. */
    public void requireAllMatch(Collection<String> paths) {
        for (int i = 0; i < specs.size(); i++) {
            final int k = i;
            if (paths.stream().noneMatch(p -> matches(k, p))) {
                TreeSet<String> names = new TreeSet<>();
                paths.forEach(p -> names.add(p.substring(p.lastIndexOf('.') + 1)));
                String example = paths.stream().findFirst().orElse(null);
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, Setting.TARGETS, "target '" + specs.get(i)
                        + "' matches no attention projection; the model has " + String.join(", ", names)
                        + (example == null ? "" : " (module paths like " + example + ")"));
            }
        }
    }

    @Override
    public String toString() {
        return String.join(",", specs);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TargetSelector t && t.specs.equals(specs);
    }

    @Override
    public int hashCode() {
        return Objects.hash(specs);
    }
}
