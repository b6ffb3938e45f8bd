package org.onnxlora.interop;

import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.Json;
import org.onnxlora.io.IoErrors;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.io.SafetensorsWriter;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.AdapterTensors;
import org.onnxlora.lora.ModelFamily;

/**
 * Hugging Face PEFT LoRA adapter folders: {@code adapter_config.json} +
 * {@code adapter_model.safetensors} with {@code base_model.model.<module>.lora_A.weight}
 * {@code [r,in]} and {@code ….lora_B.weight} {@code [out,r]} (the transposes of onnx-lora's
 * A {@code [in,r]} and B {@code [r,out]}). Tensors may be F32, F64, F16 or BF16.
 */
public final class Peft {
    public static final String WEIGHTS = "adapter_model.safetensors";
    static final String PREFIX = "base_model.model.";
    private static final Pattern KEY = Pattern.compile(
            "^(?:base_model\\.model\\.)?(?<module>.+)\\.lora_(?<ab>[AB])(?:\\.(?<name>[^.]+))?\\.weight$");

    private Peft() {}

    /**
     * A PEFT adapter read into onnx-lora's terms.
     *
     * @param adapter modules by canonical path, factors in onnx-lora layout, PEFT's alpha and scaling
     * @param config the adapter_config.json
     * @param moduleKeys canonical path → PEFT's module key
     */
    public record Loaded(Adapter adapter, PeftConfig config, Map<String, String> moduleKeys) {}

    /** Whether {@code dir} looks like a PEFT adapter folder. */
    public static boolean isPeftDir(Path dir) {
        return Files.isDirectory(dir)
                && (Files.exists(dir.resolve(PeftConfig.FILE)) || Files.exists(dir.resolve(WEIGHTS)));
    }

    public static Loaded read(Path dir, ModelFamily family) {
        if (!Files.isDirectory(dir)) {
            throw new OnnxLoraException(ErrorCode.IO, "PEFT adapter folder " + dir + " does not exist");
        }
        PeftConfig cfg = PeftConfig.read(dir);
        String origin = "PEFT adapter " + dir;
        if (cfg.useDora()) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, dir.resolve(PeftConfig.FILE)
                    + ": 'use_dora' is true; DoRA adapters cannot be imported (plain LoRA only)");
        }
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            boolean bin = Files.exists(dir.resolve("adapter_model.bin"));
            throw new OnnxLoraException(ErrorCode.IO, dir + " has no " + WEIGHTS + (bin
                    ? " (only the pickled adapter_model.bin, which onnx-lora does not read: re-save it with"
                            + " save_pretrained(..., safe_serialization=True))" : ""));
        }
        Map<String, float[][]> pairs = new LinkedHashMap<>(); // module key -> {A, B}
        Map<String, long[][]> shapes = new HashMap<>();
        Map<String, String[]> keys = new HashMap<>();
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            for (String k : st.names()) {
                Matcher m = KEY.matcher(k);
                if (!m.matches()) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": tensor '" + k + "' is not a"
                            + " LoRA factor (…lora_A.weight / …lora_B.weight)" + whatIs(k));
                }
                if (!st.dtype(k).isFloat()) {
                    throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": tensor '" + k + "' is "
                            + st.dtype(k) + "; LoRA factors must be F32, F64, F16 or BF16");
                }
                String module = m.group("module");
                int side = m.group("ab").equals("A") ? 0 : 1;
                pairs.computeIfAbsent(module, x -> new float[2][])[side] = st.floats(k);
                shapes.computeIfAbsent(module, x -> new long[2][])[side] = st.shape(k);
                keys.computeIfAbsent(module, x -> new String[2])[side] = k;
            }
        }
        Map<String, Adapter.Module> modules = new LinkedHashMap<>();
        Map<String, String> moduleKeys = new LinkedHashMap<>();
        for (Map.Entry<String, float[][]> e : pairs.entrySet()) {
            String module = e.getKey();
            String[] k = keys.get(module);
            if (k[0] == null || k[1] == null) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + ": '" + (k[0] == null ? k[1] : k[0])
                        + "' has no matching '" + (k[0] == null ? "lora_A" : "lora_B") + "' tensor");
            }
            String canonical = canonical(family, module, k[0], file, cfg);
            long[] sa = shapes.get(module)[0];
            long[] sb = shapes.get(module)[1];
            if (sa.length != 2 || sb.length != 2) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + ": '" + (sa.length != 2 ? k[0] : k[1])
                        + "' has shape " + java.util.Arrays.toString(sa.length != 2 ? sa : sb)
                        + "; LoRA factors are 2-D ([r,in] and [out,r])");
            }
            int r = Math.toIntExact(sa[0]);
            if (sb[1] != r) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + ": '" + k[1] + "' has shape "
                        + java.util.Arrays.toString(sb) + " but '" + k[0] + "' has shape " + java.util.Arrays.toString(sa)
                        + "; expected lora_A [r,in] and lora_B [out,r] with the same r");
            }
            int expected = cfg.rankFor(module);
            if (expected != r) {
                throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + ": '" + k[0] + "' has rank " + r
                        + " (shape " + java.util.Arrays.toString(sa) + ") but adapter_config.json's "
                        + cfg.rankSource(module) + " says " + expected);
            }
            double alpha = cfg.alphaFor(module);
            long in = sa[1];
            long out = sb[0];
            double[] a = transpose(e.getValue()[0], r, Math.toIntExact(in));   // [r,in] -> [in,r]
            double[] b = transpose(e.getValue()[1], Math.toIntExact(out), r);  // [out,r] -> [r,out]
            AdapterTensors t = new AdapterTensors(in, out, r, Adapter.scaling(alpha, r, cfg.useRslora()), a, b);
            if (modules.put(canonical, new Adapter.Module(canonical, alpha, t, k[0], k[1])) != null) {
                throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": two modules map to " + canonical);
            }
            moduleKeys.put(canonical, module);
        }
        if (modules.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + " holds no LoRA tensors");
        }
        return new Loaded(new Adapter(origin, cfg.useRslora(), modules), cfg, moduleKeys);
    }

    private static String canonical(ModelFamily family, String module, String key, Path file, PeftConfig cfg) {
        Optional<ModelFamily.Match> m = family.matchProjection(module, null);
        if (m.isPresent()) {
            return m.get().canonicalPath();
        }
        if (family.isOtherLinear(module)) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + ": '" + key + "' adapts " + module
                    + ", a linear layer outside attention; onnx-lora adapts only attention projections"
                    + " (q_proj, k_proj, v_proj, out_proj)");
        }
        throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, file + ": '" + key + "' adapts module '" + module
                + "', which is not a " + family.name() + " attention projection (like model.encoder.layers.0"
                + ".self_attn.q_proj)" + (cfg.baseModel() == null ? "" : "; the adapter was made for '"
                        + cfg.baseModel() + "'") + ": is it for another architecture?");
    }

    private static String whatIs(String key) {
        if (key.contains("lora_magnitude_vector")) {
            return ": a DoRA magnitude vector; DoRA adapters cannot be imported";
        }
        if (key.contains("lora_embedding_")) {
            return ": an embedding LoRA; only attention projections can be imported";
        }
        if (key.contains("modules_to_save")) {
            return ": a fully trained module (modules_to_save), which onnx-lora cannot import";
        }
        if (key.endsWith(".bias")) {
            return ": a trained bias (bias != \"none\"), which onnx-lora cannot import";
        }
        return "";
    }

    /**
     * Fails, naming them, when adapter_config.json's target_modules select projections of
     * the model ({@code modelPaths}, canonical) that the safetensors file has no factors for.
     */
    public static void checkCoverage(Loaded peft, Collection<String> modelPaths, Path dir) {
        TreeSet<String> missing = new TreeSet<>();
        for (String p : modelPaths) {
            if (!peft.adapter().modules().containsKey(p) && peft.config().targets(p)) {
                missing.add(p);
            }
        }
        if (!missing.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.TARGET_MISMATCH, dir.resolve(PeftConfig.FILE)
                    + ": 'target_modules' selects " + missing.size() + " module(s) that " + WEIGHTS
                    + " has no lora_A/lora_B for: " + String.join(", ", missing));
        }
    }

    /**
     * Writes {@code adapter} as a PEFT folder. {@code modelPaths} are all attention
     * projections of the model: target_modules is written as short names
     * ({@code ["q_proj","v_proj"]}) when those select exactly the adapted modules, else as
     * the list of full module paths. The most common rank and alpha become {@code r} and
     * {@code lora_alpha}; the others go to rank_pattern/alpha_pattern.
     */
    public static void write(Adapter adapter, Collection<String> modelPaths, Path dir, String baseModel) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot create " + dir + ": " + IoErrors.reason(e), e);
        }
        List<Adapter.Module> mods = new ArrayList<>(adapter.modules().values());
        Map<String, Double> alphas = new LinkedHashMap<>();
        for (Adapter.Module m : mods) {
            alphas.put(m.path(), alphaOf(m, adapter.useRslora()));
        }
        int r = mostCommon(mods, Adapter.Module::rank);
        double alpha = mostCommon(mods, m -> alphas.get(m.path()));
        Map<String, Object> rankPattern = patterns(mods, Adapter.Module::rank, r);
        Map<String, Object> alphaPattern = patterns(mods, m -> alphas.get(m.path()), alpha);

        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        for (Adapter.Module m : mods) {
            AdapterTensors t = m.tensors();
            int in = Math.toIntExact(t.in());
            int out = Math.toIntExact(t.out());
            w.putFloats(PREFIX + m.path() + ".lora_A.weight", new long[] {t.rank(), in},
                    toFloats(transpose(t.a(), in, t.rank())));
            w.putFloats(PREFIX + m.path() + ".lora_B.weight", new long[] {out, t.rank()},
                    toFloats(transpose(t.b(), t.rank(), out)));
        }
        w.write(dir.resolve(WEIGHTS));

        JsonObject c = new JsonObject();
        c.add("alpha_pattern", json(alphaPattern));
        c.add("auto_mapping", JsonNull.INSTANCE);
        c.addProperty("base_model_name_or_path", baseModel);
        c.addProperty("bias", "none");
        c.addProperty("fan_in_fan_out", false);
        c.addProperty("inference_mode", true);
        c.addProperty("init_lora_weights", true);
        c.add("layers_pattern", JsonNull.INSTANCE);
        c.add("layers_to_transform", JsonNull.INSTANCE);
        c.addProperty("lora_alpha", number(alpha));
        c.addProperty("lora_dropout", 0.0);
        c.add("modules_to_save", JsonNull.INSTANCE);
        c.addProperty("peft_type", "LORA");
        c.addProperty("r", r);
        c.add("rank_pattern", json(rankPattern));
        c.add("revision", JsonNull.INSTANCE);
        c.add("target_modules", PeftConfig.array(targetModules(adapter, modelPaths)));
        c.addProperty("task_type", "SEQ_2_SEQ_LM");
        c.addProperty("use_dora", false);
        c.addProperty("use_rslora", adapter.useRslora());
        try {
            AtomicFiles.writeString(dir.resolve(PeftConfig.FILE),
                    Json.builder().setPrettyPrinting().serializeNulls().create().toJson(c) + "\n");
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + dir.resolve(PeftConfig.FILE) + ": "
                    + IoErrors.reason(e), e);
        }
    }

    /** The module's alpha, consistent with its (possibly dtype-rounded) scaling. */
    private static double alphaOf(Adapter.Module m, boolean rslora) {
        double derived = rslora ? m.scaling() * Math.sqrt(m.rank()) : m.scaling() * m.rank();
        return Math.abs(m.alpha() - derived) <= 1e-6 * Math.abs(derived) ? m.alpha() : derived;
    }

    static List<String> targetModules(Adapter adapter, Collection<String> modelPaths) {
        TreeSet<String> shortNames = new TreeSet<>();
        adapter.modules().keySet().forEach(p -> shortNames.add(p.substring(p.lastIndexOf('.') + 1)));
        TreeSet<String> selected = new TreeSet<>();
        for (String p : modelPaths) {
            if (shortNames.contains(p.substring(p.lastIndexOf('.') + 1))) {
                selected.add(p);
            }
        }
        if (selected.equals(new TreeSet<>(adapter.modules().keySet()))) {
            return new ArrayList<>(shortNames);
        }
        return new ArrayList<>(new TreeSet<>(adapter.modules().keySet()));
    }

    private static <T> T mostCommon(List<Adapter.Module> mods, Function<Adapter.Module, T> f) {
        Map<T, Integer> counts = new LinkedHashMap<>();
        mods.forEach(m -> counts.merge(f.apply(m), 1, Integer::sum));
        return counts.entrySet().stream().max(Comparator.comparingInt(Map.Entry::getValue)).orElseThrow().getKey();
    }

    /** Modules whose value differs from the default: by short name when all modules of that name agree. */
    private static <T> Map<String, Object> patterns(List<Adapter.Module> mods, Function<Adapter.Module, T> f, T dflt) {
        Map<String, List<Adapter.Module>> byShort = new TreeMap<>();
        mods.forEach(m -> byShort.computeIfAbsent(m.path().substring(m.path().lastIndexOf('.') + 1),
                x -> new ArrayList<>()).add(m));
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, List<Adapter.Module>> e : byShort.entrySet()) {
            List<Adapter.Module> group = e.getValue();
            T first = f.apply(group.get(0));
            boolean uniform = group.stream().allMatch(m -> f.apply(m).equals(first));
            if (uniform) {
                if (!first.equals(dflt)) {
                    out.put(e.getKey(), first);
                }
                continue;
            }
            for (Adapter.Module m : group) {
                if (!f.apply(m).equals(dflt)) {
                    out.put(m.path(), f.apply(m));
                }
            }
        }
        return out;
    }

    private static JsonElement json(Map<String, Object> map) {
        JsonObject o = new JsonObject();
        map.forEach((k, v) -> o.addProperty(k, v instanceof Double d ? number(d) : (Number) v));
        return o;
    }

    /** Integral values as integers (PEFT writes lora_alpha: 16, not 16.0). */
    private static Number number(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? (Number) (long) v : (Number) v;
    }

    /** Row-major {@code [rows, cols]} → {@code [cols, rows]}. */
    static double[] transpose(double[] v, int rows, int cols) {
        double[] t = new double[v.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = v[i * cols + j];
            }
        }
        return t;
    }

    static double[] transpose(float[] v, int rows, int cols) {
        double[] t = new double[v.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = v[i * cols + j];
            }
        }
        return t;
    }

    private static float[] toFloats(double[] v) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        return f;
    }
}
