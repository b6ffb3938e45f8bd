package org.onnxlora.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.tensorboard.EventFolder;
import org.onnxlora.tensorboard.EventWriter;
import org.onnxlora.run.RunDirectory;
import org.onnxlora.run.RunDescription;

/**
 * The run's metrics as TensorBoard event files in {@code RUN/tb/}: each metrics.jsonl
 * entry becomes one event at its step, with a scalar per number, tagged
 * {@code <event>/<key>} ({@code train/loss}, {@code train/lr}, {@code train/grad_norm},
 * {@code train/tokens_per_second}, {@code eval/valid_loss}, ...), and the run's settings
 * are a text summary ({@code config}) at the step the process starts from.
 */
public final class TensorBoardMetrics implements MetricsLog.Listener {
    public static final String DIR = RunDirectory.TENSORBOARD;
    public static final String CONFIG_TAG = "config";

    private final EventWriter writer;

    private TensorBoardMetrics(EventWriter writer) {
        this.writer = writer;
    }

    /** Opens a new event file for a run that continues after {@code startStep} (0: a new run). */
    public static TensorBoardMetrics open(Path runDir, long startStep) {
        EventWriter w = EventFolder.continueAfter(runDir.resolve(DIR), startStep);
        w.text(startStep, CONFIG_TAG, configMarkdown(runDir));
        return new TensorBoardMetrics(w);
    }

    @Override
    public void entry(Map<String, Object> entry) {
        Object event = entry.get("event");
        Object step = entry.get("step");
        if (!(step instanceof Number s)) {
            return;
        }
        Map<String, Double> values = new LinkedHashMap<>();
        entry.forEach((k, v) -> {
            if (!k.equals("step") && v instanceof Number n && Double.isFinite(n.doubleValue())) {
                values.put(event + "/" + k, n.doubleValue());
            }
        });
        if (!values.isEmpty()) {
            writer.scalars(s.longValue(), values);
        }
    }

    @Override
    public void close() {
        writer.close();
    }

    /** The settings as a Markdown table; a run folder without readable settings says so instead of failing the run. */
    static String configMarkdown(Path runDir) {
        Map<String, String> settings;
        try {
            settings = RunDescription.settings(runDir);
        } catch (OnnxLoraException unreadable) {
            return "settings not available: " + unreadable.getMessage();
        }
        if (settings.isEmpty()) {
            return "no settings recorded (no " + RunDescription.INFO + " in " + runDir + ")";
        }
        StringBuilder md = new StringBuilder("| setting | value |\n|---|---|\n");
        settings.forEach((k, v) -> md.append("| ").append(cell(k)).append(" | ").append(cell(v)).append(" |\n"));
        return md.toString();
    }

    private static String cell(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }
}
