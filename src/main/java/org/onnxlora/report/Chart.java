package org.onnxlora.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * One chart laid out in pixels, shared by the SVG and the PNG renderer so both draw
 * the same thing: series of (step, value) points with the axes' ranges and ticks.
 */
final class Chart {
    static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
        "#17becf"};
    static final int LEFT = 70;
    static final int RIGHT = 20;
    static final int LEGEND_ROW = 18;
    static final int BOTTOM = 44;

    /** One curve: a run's metric. */
    record Series(String run, int runIndex, Metric metric, List<RunData.Point> points, boolean dashed) {
        String color() {
            return COLORS[runIndex % COLORS.length];
        }
    }

    final String id;
    final String title;
    final int width;
    final int height;
    final List<Series> series;
    /** Legend entries laid out left to right in rows under the title; the plot starts below them. */
    final List<LegendItem> legend = new ArrayList<>();
    final int top;
    final double xMin;
    final double xMax;
    final double yMin;
    final double yMax;

    Chart(String id, String title, int width, int height, List<Series> series) {
        this.id = id;
        this.title = title;
        this.width = width;
        this.height = height;
        this.series = series;
        double x0 = Double.POSITIVE_INFINITY;
        double x1 = Double.NEGATIVE_INFINITY;
        double y0 = Double.POSITIVE_INFINITY;
        double y1 = Double.NEGATIVE_INFINITY;
        for (Series s : series) {
            for (RunData.Point p : s.points()) {
                x0 = Math.min(x0, p.step());
                x1 = Math.max(x1, p.step());
                y0 = Math.min(y0, p.value());
                y1 = Math.max(y1, p.value());
            }
        }
        if (x0 > x1) {
            x0 = 0;
            x1 = 1;
            y0 = 0;
            y1 = 1;
        }
        if (x1 == x0) {
            x1 = x0 + 1;
        }
        if (y1 == y0) {
            double pad = y0 == 0 ? 1 : Math.abs(y0) * 0.05;
            y0 -= pad;
            y1 += pad;
        }
        double pad = (y1 - y0) * 0.05;
        this.xMin = x0;
        this.xMax = x1;
        this.yMin = y0 - pad;
        this.yMax = y1 + pad;
        boolean oneMetric = series.stream().map(Series::metric).distinct().count() == 1;
        int lx = LEFT;
        int ly = 40;
        for (Series ser : series) {
            String text = oneMetric ? ser.run() : ser.run() + " " + ser.metric().label();
            int w = 28 + textWidth(text);
            if (lx > LEFT && lx + w > width - RIGHT) {
                lx = LEFT;
                ly += LEGEND_ROW;
            }
            legend.add(new LegendItem(lx, ly, text, ser));
            lx += w + 16;
        }
        this.top = ly + 12;
    }

    /** One legend entry: a line sample from x to x + 22, then the text. */
    record LegendItem(int x, int y, String text, Series series) {}

    /** Text width estimated for an 11 px sans-serif font (the SVG has no font metrics before it is drawn). */
    static int textWidth(String text) {
        return (int) Math.round(text.length() * 6.4);
    }

    boolean isEmpty() {
        return series.stream().allMatch(s -> s.points().isEmpty());
    }

    double x(double step) {
        return LEFT + (step - xMin) / (xMax - xMin) * (width - LEFT - RIGHT);
    }

    double y(double value) {
        return top + (yMax - value) / (yMax - yMin) * (height - top - BOTTOM);
    }

    List<Double> xTicks() {
        return ticks(xMin, xMax, 6, true);
    }

    List<Double> yTicks() {
        return ticks(yMin, yMax, 5, false);
    }

    /** Round tick values (1, 2 or 5 times a power of ten) inside [lo, hi]. */
    static List<Double> ticks(double lo, double hi, int want, boolean integers) {
        double raw = (hi - lo) / want;
        double mag = Math.pow(10, Math.floor(Math.log10(raw)));
        double step = mag;
        for (double m : new double[] {1, 2, 5, 10}) {
            if (m * mag >= raw) {
                step = m * mag;
                break;
            }
        }
        if (integers) {
            step = Math.max(1, Math.round(step));
        }
        List<Double> t = new ArrayList<>();
        for (double v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
            t.add(Math.abs(v) < step * 1e-9 ? 0 : v);
        }
        return t;
    }

    static String label(double v) {
        double a = Math.abs(v);
        if (v == 0) {
            return "0";
        }
        if (a >= 1e5 || a < 1e-3) {
            return String.format(Locale.ROOT, "%.1e", v);
        }
        if (v == Math.rint(v)) {
            return Long.toString((long) v);
        }
        String s = String.format(Locale.ROOT, a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.4f", v);
        return s.contains(".") ? s.replaceAll("0+$", "").replaceAll("\\.$", "") : s;
    }
}
