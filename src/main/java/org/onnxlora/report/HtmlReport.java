package org.onnxlora.report;

import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;

/**
 * One self-contained HTML page about one or more runs: their curves overlaid (inline
 * SVG), their settings side by side with the differing ones highlighted, their final
 * metrics and attached eval results, and a notice for everything a run lacks. A
 * Content-Security-Policy forbids every fetch, so the page is the same offline, and a
 * small inline script checks that each curve holds the points the report put in it.
 */
public final class HtmlReport {
    static final int WIDTH = 900;
    static final int HEIGHT = 380;

    private final List<RunData> runs;

    public HtmlReport(List<RunData> runs) {
        if (runs.isEmpty()) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "a report needs at least one run");
        }
        this.runs = runs;
    }

    /** Every run's notices, prefixed with its name: what the report could not show. */
    public List<String> notices() {
        List<String> out = new ArrayList<>();
        runs.forEach(r -> r.notices().forEach(n -> out.add(r.name() + ": " + n)));
        return out;
    }

    /** The settings whose values differ between the runs (a setting only one run has counts). */
    public Set<String> differingSettings() {
        Set<String> names = new LinkedHashSet<>();
        runs.forEach(r -> names.addAll(r.settings().keySet()));
        Set<String> differ = new LinkedHashSet<>();
        for (String n : names) {
            if (runs.stream().map(r -> r.settings().get(n)).distinct().count() > 1) {
                differ.add(n);
            }
        }
        return differ;
    }

    public void writeHtml(Path out) {
        try {
            AtomicFiles.writeString(out, html());
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + out + ": " + IoErrors.reason(e), e);
        }
    }

    /** The loss chart (training and validation) as a PNG. */
    public void writePng(Path out) {
        try {
            PngChart.write(charts().get(0), out);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + out + ": " + IoErrors.reason(e), e);
        }
    }

    List<Chart> charts() {
        List<Chart> charts = new ArrayList<>();
        charts.add(chart("loss", "Loss (solid: training, dashed: validation)", Metric.TRAIN_LOSS, Metric.VALID_LOSS));
        charts.add(chart("lr", "Learning rate", Metric.LR));
        charts.add(chart("grad_norm", "Gradient norm (before clipping)", Metric.GRAD_NORM));
        charts.add(chart("tokens_per_second", "Throughput (tokens/s)", Metric.TOKENS_PER_SECOND));
        return charts;
    }

    private Chart chart(String id, String title, Metric... metrics) {
        List<Chart.Series> series = new ArrayList<>();
        for (int i = 0; i < runs.size(); i++) {
            RunData r = runs.get(i);
            for (Metric m : metrics) {
                List<RunData.Point> pts = r.curves().getOrDefault(m, List.of());
                if (!pts.isEmpty() || m == metrics[0]) {
                    series.add(new Chart.Series(r.name(), i, m, pts, m == Metric.VALID_LOSS));
                }
            }
        }
        return new Chart(id, title, WIDTH, HEIGHT, series);
    }

    String html() {
        StringBuilder h = new StringBuilder();
        String title = "onnx-lora report: " + String.join(", ", runs.stream().map(RunData::name).toList());
        h.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src"
                        + " 'unsafe-inline'; script-src 'unsafe-inline'\">\n")
                .append("<title>").append(Html.escape(title)).append("</title>\n<style>\n").append(CSS)
                .append("</style>\n</head>\n<body>\n<h1>").append(Html.escape(title)).append("</h1>\n");
        h.append("<ul class=\"runs\">\n");
        for (int i = 0; i < runs.size(); i++) {
            RunData r = runs.get(i);
            h.append("<li><span class=\"swatch\" style=\"background:").append(Chart.COLORS[i % Chart.COLORS.length])
                    .append("\"></span><b>").append(Html.escape(r.name())).append("</b> <code>")
                    .append(Html.escape(r.dir().toAbsolutePath().normalize().toString())).append("</code></li>\n");
        }
        h.append("</ul>\n");
        List<String> notices = notices();
        if (!notices.isEmpty()) {
            h.append("<div id=\"notices\" class=\"notices\"><b>Missing or damaged:</b><ul>\n");
            notices.forEach(n -> h.append("<li class=\"notice\">").append(Html.escape(n)).append("</li>\n"));
            h.append("</ul></div>\n");
        }
        h.append("<h2>Curves</h2>\n<div class=\"charts\">\n");
        charts().forEach(c -> h.append(SvgChart.render(c)));
        h.append("</div>\n");
        finalMetrics(h);
        settings(h);
        evals(h);
        h.append("<p id=\"self-check\" data-status=\"not-run\">self-check: the page's script did not run</p>\n");
        h.append("<script>\n").append(SELF_CHECK).append("</script>\n</body>\n</html>\n");
        return h.toString();
    }

    private void finalMetrics(StringBuilder h) {
        h.append("<h2>Final metrics</h2>\n");
        Set<String> keys = new LinkedHashSet<>();
        runs.forEach(r -> keys.addAll(r.summary().keySet()));
        if (keys.isEmpty()) {
            h.append("<p class=\"missing\">No run has a summary.json yet.</p>\n");
            return;
        }
        table(h, "final-metrics", "metric", keys, runs.stream().map(RunData::summary).toList(), false);
    }

    private void settings(StringBuilder h) {
        h.append("<h2>Settings</h2>\n");
        Set<String> keys = new LinkedHashSet<>();
        runs.forEach(r -> keys.addAll(r.settings().keySet()));
        if (keys.isEmpty()) {
            h.append("<p class=\"missing\">No run records its settings.</p>\n");
            return;
        }
        if (runs.size() > 1) {
            int n = differingSettings().size();
            h.append("<p>").append(n == 0 ? "All settings agree." : n + (n == 1 ? " setting differs" : " settings differ")
                    + " (highlighted).").append("</p>\n");
        }
        table(h, "settings", "setting", keys, runs.stream().map(RunData::settings).toList(), runs.size() > 1);
    }

    private void evals(StringBuilder h) {
        h.append("<h2>Evaluations</h2>\n");
        Set<String> keys = new LinkedHashSet<>();
        runs.forEach(r -> r.evals().forEach(e -> keys.addAll(e.values().keySet())));
        if (keys.isEmpty()) {
            h.append("<p class=\"missing\">No eval results are attached (eval --run RUN attaches them).</p>\n");
            return;
        }
        h.append("<table id=\"evals\">\n<tr><th>run</th><th>eval</th>");
        keys.forEach(k -> h.append("<th>").append(Html.escape(k)).append("</th>"));
        h.append("</tr>\n");
        for (RunData r : runs) {
            for (RunData.EvalResult e : r.evals()) {
                h.append("<tr class=\"eval\"><td>").append(Html.escape(r.name())).append("</td><td>")
                        .append(Html.escape(e.name())).append("</td>");
                keys.forEach(k -> h.append("<td>").append(Html.escape(shown(e.values().get(k)))).append("</td>"));
                h.append("</tr>\n");
            }
        }
        h.append("</table>\n");
    }

    private void table(StringBuilder h, String id, String first, Set<String> keys, List<Map<String, String>> cols,
            boolean highlight) {
        h.append("<table id=\"").append(id).append("\">\n<tr><th>").append(first).append("</th>");
        runs.forEach(r -> h.append("<th>").append(Html.escape(r.name())).append("</th>"));
        h.append("</tr>\n");
        Set<String> differ = highlight ? differingSettings() : Set.of();
        for (String k : keys) {
            h.append("<tr data-key=\"").append(Html.escape(k)).append("\"")
                    .append(differ.contains(k) ? " class=\"differs\"" : "").append("><td>").append(Html.escape(k))
                    .append("</td>");
            for (Map<String, String> col : cols) {
                String v = col.get(k);
                h.append(v == null ? "<td class=\"absent\">—</td>" : "<td>" + Html.escape(shown(v)) + "</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</table>\n");
    }

    /** Decimal numbers rounded to 6 significant digits for reading; everything else as recorded. */
    static String shown(String v) {
        if (v == null) {
            return "—";
        }
        if (v.contains(".") && !v.contains("/")) {
            try {
                double d = Double.parseDouble(v);
                if (Double.isFinite(d)) {
                    return new BigDecimal(d).round(new MathContext(6)).stripTrailingZeros().toPlainString();
                }
            } catch (NumberFormatException text) {
                // not a number: as recorded
            }
        }
        return v;
    }

    private static final String CSS = """
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
            h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 28px; }
            code { font-size: 12px; color: #555; }
            .runs { list-style: none; padding: 0; } .runs li { margin: 3px 0; }
            .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: middle; }
            .notices { background: #fff4e5; border: 1px solid #f0b060; padding: 8px 12px; }
            .chart { display: block; margin: 8px 0 18px; background: #fff; }
            .chart .grid { stroke: #e5e5e5; } .chart .frame { fill: none; stroke: #999; }
            .chart .tick, .chart .axis, .chart .legend { font-size: 11px; fill: #555; }
            .chart .title { font-size: 14px; font-weight: bold; fill: #222; }
            .chart .series { fill: none; stroke-width: 1.6; } .chart .empty { fill: #999; font-size: 14px; }
            table { border-collapse: collapse; font-size: 13px; }
            td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
            th { background: #f3f3f3; }
            tr.differs td { background: #fff1a8; font-weight: bold; }
            td.absent { color: #999; }
            .missing { color: #777; }
            #self-check { color: #999; font-size: 11px; }
            """;

    private static final String SELF_CHECK = """
            (function () {
              var bad = [];
              var lines = document.querySelectorAll('svg.chart polyline.series');
              for (var i = 0; i < lines.length; i++) {
                var want = parseInt(lines[i].getAttribute('data-count'), 10);
                var got = lines[i].points.numberOfItems;
                if (want !== got) {
                  bad.push(lines[i].getAttribute('data-run') + ' ' + lines[i].getAttribute('data-metric') + ': ' + got
                      + ' points, expected ' + want);
                }
              }
              var p = document.getElementById('self-check');
              p.setAttribute('data-status', bad.length ? 'fail' : 'ok');
              p.setAttribute('data-series', String(lines.length));
              p.textContent = bad.length ? 'self-check failed: ' + bad.join('; ')
                  : 'self-check: ' + lines.length + ' curves drawn with every logged point';
            })();
            """;
}
