package org.onnxlora.interop;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.onnxlora.io.ModelIO;
import org.onnxlora.lora.Adapter;
import org.onnxlora.lora.AdapterMerger;
import org.onnxlora.lora.ModelFiles;
import org.onnxlora.lora.Projection;
import org.onnxlora.lora.ProjectionFinder;
import org.onnxlora.lora.ModelFamily;

/** A PEFT adapter checked against the model it is to be applied to. */
public final class PeftImport {
    private PeftImport() {}

    /**
     * Reads {@code peftDir} and checks it against {@code model}: every adapted module must
     * be a projection of the model (unknown ones are named), every projection that
     * adapter_config.json's target_modules selects must have factors (missing ones are
     * named), and every factor must fit its projection's shape (the tensor is named).
     */
    public static Peft.Loaded check(Path model, Path peftDir, ModelFamily family) {
        Peft.Loaded peft = Peft.read(peftDir, family);
        Map<String, String> known = AdapterMerger.knownModules(model, family);
        AdapterMerger.checkModules(peft.adapter(), known, model);
        Peft.checkCoverage(peft, known.keySet(), peftDir);
        for (Path f : ModelFiles.of(model).onnxFiles()) {
            Path file = Files.isDirectory(model) ? f : null;
            for (Projection p : new ProjectionFinder(family).find(ModelIO.load(f), file).projections()) {
                Adapter.Module m = peft.adapter().module(p.modulePath());
                if (m != null) {
                    peft.adapter().checkFits(m, p.in(), p.out());
                }
            }
        }
        return peft;
    }
}
