package org.onnxlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.runtime.RuntimeOptions;
import org.onnxlora.runtime.Sessions;

/** The compiled AdamW step, fed PyTorch's gradients, reproduces torch.optim.AdamW. */
class OptimizerGraphTest {

    @Test
    void reproducesTorchAdamWOverThreeSteps() throws Exception {
        try (Goldens gold = new Goldens()) {
            List<AdapterSpec> specs = new ArrayList<>();
            for (String a : gold.adapters) {
                specs.add(new AdapterSpec(a, gold.shape("init/" + a), 1));
            }
            ModelProto graph = OptimizerGraph.build(specs, gold.optimizerConfig());
            OrtEnvironment env = Sessions.env();
            double lr = gold.optimizer().get("lr").getAsDouble();
            try (OrtSession s = Sessions.create(graph, RuntimeOptions.defaults(), "optimizer graph")) {
                for (int step = 1; step <= 3; step++) {
                    Map<String, OnnxTensor> feeds = new HashMap<>();
                    try {
                        for (AdapterSpec a : specs) {
                            String n = a.name();
                            String prev = "step" + (step - 1);
                            float[] p = gold.get(step == 1 ? "init/" + n : prev + "/param/" + n);
                            float[] m = step == 1 ? new float[p.length] : gold.get(prev + "/exp_avg/" + n);
                            float[] v = step == 1 ? new float[p.length] : gold.get(prev + "/exp_avg_sq/" + n);
                            feeds.put(n, OnnxTensor.createTensor(env, FloatBuffer.wrap(p), a.dims()));
                            feeds.put(AdapterSpec.expAvg(n), OnnxTensor.createTensor(env, FloatBuffer.wrap(m), a.dims()));
                            feeds.put(AdapterSpec.expAvgSq(n), OnnxTensor.createTensor(env, FloatBuffer.wrap(v), a.dims()));
                            feeds.put(AdapterSpec.grad(n), OnnxTensor.createTensor(env,
                                    FloatBuffer.wrap(gold.get("step" + step + "/grad/" + n)), a.dims()));
                        }
                        feeds.put(OptimizerGraph.LR, OnnxTensor.createTensor(env, lr));
                        feeds.put(OptimizerGraph.STEP, OnnxTensor.createTensor(env, (long) step));
                        feeds.put(OptimizerGraph.GRAD_SCALE, OnnxTensor.createTensor(env, 1f));
                        try (OrtSession.Result r = s.run(feeds)) {
                            float norm = (Float) ((OnnxTensor) r.get(OptimizerGraph.GRAD_NORM).orElseThrow()).getValue();
                            assertEquals(gold.step(step).get("grad_norm").getAsDouble(), norm, 1e-5 * norm);
                            for (AdapterSpec a : specs) {
                                String n = a.name();
                                check(r, AdapterSpec.updated(n), gold.get("step" + step + "/param/" + n), step);
                                check(r, AdapterSpec.updated(AdapterSpec.expAvg(n)),
                                        gold.get("step" + step + "/exp_avg/" + n), step);
                                check(r, AdapterSpec.updated(AdapterSpec.expAvgSq(n)),
                                        gold.get("step" + step + "/exp_avg_sq/" + n), step);
                            }
                        }
                    } finally {
                        feeds.values().forEach(OnnxTensor::close);
                    }
                }
            }
        }
    }

    private static void check(OrtSession.Result r, String name, float[] ref, int step) {
        FloatBuffer fb = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
        float[] got = new float[fb.remaining()];
        fb.get(got);
        double err = Goldens.relErr(got, ref);
        assertTrue(err <= 1e-6, "step " + step + " " + name + ": relative error " + err);
    }
}
