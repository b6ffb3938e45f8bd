package org.onnxlora.interop;

import java.nio.file.Path;
import java.util.Map;
import org.onnxlora.lora.AdapterMerger;
import org.onnxlora.lora.ModelFamily;

/** A PEFT adapter checked against the model it is to be applied to. */
public final class PeftImport {
    private PeftImport() {}

    /**
     * Reads {@code peftDir} and checks it against {@code model}: every adapted module must
     * be a projection of the model (unknown ones are named), every projection that
     * adapter_config.json's target_modules selects must have factors (missing ones are
     * named), and factor shapes must fit (checked when applied, naming the tensor).
     */
    public static Peft.Loaded check(Path model, Path peftDir, ModelFamily family) {
        Peft.Loaded peft = Peft.read(peftDir, family);
        Map<String, String> known = AdapterMerger.knownModules(model, family);
        AdapterMerger.checkModules(peft.adapter(), known, model);
        Peft.checkCoverage(peft, known.keySet(), peftDir);
        return peft;
    }
}
