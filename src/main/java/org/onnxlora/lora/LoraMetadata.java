package org.onnxlora.lora;

import com.google.gson.Gson;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.onnxlora.io.Json;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;

/**
 * The LoRA configuration a patched model carries in its {@code metadata_props}
 * under {@value #KEY}: which tensors are trainable (everything else is frozen),
 * and for each adapted module its rank, alpha and tensor names. Training, merge and
 * export read it back; Netron shows it.
 */
public final class LoraMetadata {
    public static final String KEY = "onnx_lora";
    public static final String MERGED_KEY = "onnx_lora.merged";
    private static final Gson GSON = Json.builder().setPrettyPrinting().disableHtmlEscaping().create();

    /** The whole record, serialised as JSON. */
    public record Info(int format, int rank, double alpha, boolean useRslora, String init, long seed,
            List<String> targets, List<Module> modules, List<String> trainable, String frozen) {}

    /** One adapted projection. */
    public record Module(String module, String role, int rank, double alpha, double scaling, String loraA,
            String loraB, String scalingTensor, String baseNode, String baseWeight, long in, long out) {}

    private LoraMetadata() {}

    public static Info of(LoraConfig cfg, List<PatchPlan.Selected> selected) {
        List<Module> modules = new ArrayList<>();
        List<String> trainable = new ArrayList<>();
        for (PatchPlan.Selected s : selected) {
            Projection p = s.projection();
            modules.add(new Module(p.modulePath(), p.role(), s.rank(), s.alpha(), s.scaling(), p.loraA(), p.loraB(),
                    p.scalingName(), p.node(), p.weight(), p.in(), p.out()));
            trainable.add(p.loraA());
            trainable.add(p.loraB());
        }
        return new Info(1, cfg.rank(), cfg.alpha(), cfg.useRslora(), cfg.init().name().toLowerCase(java.util.Locale.ROOT),
                cfg.seed(), cfg.targets(), modules, trainable, "every initializer not listed in trainable");
    }

    public static String toJson(Object info) {
        return GSON.toJson(info);
    }

    /**
     * The model's LoRA metadata, validated field by field: anyone can edit a model's
     * metadata_props, so a null list, a string where a number belongs or a rank of 1.5 is
     * refused with one line naming the field, not passed on as a null or a Gson exception.
     */
    public static Optional<Info> read(ModelProto model) {
        for (StringStringEntryProto e : model.getMetadataPropsList()) {
            if (e.getKey().equals(KEY)) {
                return Optional.of(LoraMetadataParser.parse(e.getValue()));
            }
        }
        return Optional.empty();
    }

    /** {@code model} with {@code key} set to {@code json} (replacing an old value) or removed when json is null. */
    public static ModelProto withEntry(ModelProto model, String key, String json) {
        ModelProto.Builder b = model.toBuilder().clearMetadataProps();
        for (StringStringEntryProto e : model.getMetadataPropsList()) {
            if (!e.getKey().equals(key)) {
                b.addMetadataProps(e);
            }
        }
        if (json != null) {
            b.addMetadataProps(StringStringEntryProto.newBuilder().setKey(key).setValue(json));
        }
        return b.build();
    }
}
