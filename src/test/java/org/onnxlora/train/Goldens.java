package org.onnxlora.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.io.SafetensorsFile;
import org.onnxlora.testing.Fixtures;

/**
 * The PyTorch + PEFT goldens of tools/make_fixtures.py: a fixed batch, fixed
 * non-zero adapters (onnx-lora layout [in,r]/[r,out]), and per AdamW step the
 * gradients (of the mean loss, before clipping), parameters and moments.
 */
final class Goldens implements AutoCloseable {
    final SafetensorsFile file;
    final JsonObject meta;
    final List<String> adapters = new ArrayList<>();

    Goldens() throws IOException {
        file = SafetensorsFile.open(Fixtures.goldens().resolve("train_step.safetensors"));
        meta = JsonParser.parseString(Files.readString(Fixtures.goldens().resolve("train_step.json"))).getAsJsonObject();
        meta.getAsJsonArray("adapters").forEach(e -> adapters.add(e.getAsString()));
    }

    float[] get(String key) {
        return file.floats(key);
    }

    long[] longs(String key) {
        return file.longs(key);
    }

    long[] shape(String key) {
        return file.shape(key);
    }

    JsonObject step(int k) {
        return meta.getAsJsonArray("steps").get(k - 1).getAsJsonObject();
    }

    JsonObject optimizer() {
        return meta.getAsJsonObject("optimizer");
    }

    OptimizerConfig optimizerConfig() {
        JsonObject o = optimizer();
        return new OptimizerConfig(o.getAsJsonArray("betas").get(0).getAsDouble(),
                o.getAsJsonArray("betas").get(1).getAsDouble(), o.get("eps").getAsDouble(),
                o.get("weight_decay").getAsDouble(), o.get("max_grad_norm").getAsDouble());
    }

    /** max|x − ref| / max|ref|: the normwise relative error the acceptance bounds use. */
    static double relErr(float[] x, float[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < x.length; i++) {
            num = Math.max(num, Math.abs((double) x[i] - ref[i]));
            den = Math.max(den, Math.abs(ref[i]));
        }
        return den == 0 ? num : num / den;
    }

    @Override
    public void close() {
        file.close();
    }
}
