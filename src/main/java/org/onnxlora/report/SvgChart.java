package org.onnxlora.report;

import java.util.Locale;

/**
 * A chart as inline SVG: no script, no font file, nothing fetched. Each curve is one
 * {@code <polyline class="series">} with a point per logged step and its run, metric
 * and point count as data attributes (the report's self-check and tests read them).
 */
final class SvgChart {
    private SvgChart() {}

    static String render(Chart c) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg id=\"chart-%s\" class=\"chart\" width=\"%d\" height=\"%d\""
                + " viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%s\">%n", c.id, c.width, c.height, c.width, c.height,
                Html.escape(c.title)));
        s.append(String.format(Locale.ROOT, "<text class=\"title\" x=\"%d\" y=\"20\">%s</text>%n", Chart.LEFT,
                Html.escape(c.title)));
        int x0 = Chart.LEFT;
        int x1 = c.width - Chart.RIGHT;
        int y0 = c.top;
        int y1 = c.height - Chart.BOTTOM;
        for (double t : c.yTicks()) {
            double y = c.y(t);
            s.append(String.format(Locale.ROOT, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
                    + "<text class=\"tick\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", x0, y, x1, y, x0 - 6,
                    y + 4, Chart.label(t)));
        }
        for (double t : c.xTicks()) {
            double x = c.x(t);
            s.append(String.format(Locale.ROOT, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                    + "<text class=\"tick\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", x, y0, x, y1, x,
                    y1 + 16, Chart.label(t)));
        }
        s.append(String.format(Locale.ROOT, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>%n",
                x0, y0, x1 - x0, y1 - y0));
        s.append(String.format(Locale.ROOT, "<text class=\"axis\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>%n",
                (x0 + x1) / 2, c.height - 8));
        if (c.isEmpty()) {
            s.append(String.format(Locale.ROOT, "<text class=\"empty\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">"
                    + "nothing logged</text>%n", (x0 + x1) / 2, (y0 + y1) / 2));
        }
        for (Chart.Series ser : c.series) {
            StringBuilder pts = new StringBuilder();
            for (RunData.Point p : ser.points()) {
                pts.append(String.format(Locale.ROOT, "%.2f,%.2f ", c.x(p.step()), c.y(p.value())));
            }
            s.append(String.format(Locale.ROOT, "<polyline class=\"series\" data-run=\"%s\" data-metric=\"%s\""
                    + " data-count=\"%d\" stroke=\"%s\"%s points=\"%s\"/>%n", Html.escape(ser.run()), ser.metric().id(),
                    ser.points().size(), ser.color(), ser.dashed() ? " stroke-dasharray=\"6 4\"" : "",
                    pts.toString().trim()));
            if (ser.dashed() || ser.points().size() == 1) {
                for (RunData.Point p : ser.points()) {
                    s.append(String.format(Locale.ROOT, "<circle class=\"marker\" cx=\"%.2f\" cy=\"%.2f\" r=\"3\""
                            + " fill=\"%s\"/>", c.x(p.step()), c.y(p.value()), ser.color()));
                }
                s.append('\n');
            }
        }
        for (Chart.LegendItem li : c.legend) {
            s.append(String.format(Locale.ROOT, "<line class=\"legend-line\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
                    + " stroke=\"%s\" stroke-width=\"2\"%s/><text class=\"legend\" x=\"%d\" y=\"%d\">%s</text>%n",
                    li.x(), li.y() - 4, li.x() + 22, li.y() - 4, li.series().color(),
                    li.series().dashed() ? " stroke-dasharray=\"6 4\"" : "", li.x() + 28, li.y(), Html.escape(li.text())));
        }
        s.append("</svg>\n");
        return s.toString();
    }
}
