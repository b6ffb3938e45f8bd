package org.onnxlora.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.onnxlora.io.AtomicFiles;

/** The same chart as a PNG, drawn with Java2D off screen (no display, no extra library). */
final class PngChart {
    private PngChart() {}

    static void write(Chart c, Path out) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int scale = 2; // sharp on high-density screens and in issue trackers
        BufferedImage img = new BufferedImage(c.width * scale, c.height * scale, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.scale(scale, scale);
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
            draw(c, g);
        } finally {
            g.dispose();
        }
        AtomicFiles.write(out, os -> {
            ImageIO.write(img, "png", os);
            return null;
        });
    }

    private static void draw(Chart c, Graphics2D g) {
        int x0 = Chart.LEFT;
        int x1 = c.width - Chart.RIGHT;
        int y0 = c.top;
        int y1 = c.height - Chart.BOTTOM;
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, c.width, c.height);
        Font small = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.setColor(new Color(0x222222));
        g.drawString(c.title, x0, 20);
        g.setFont(small);
        for (double t : c.yTicks()) {
            float y = (float) c.y(t);
            g.setColor(new Color(0xe5e5e5));
            g.draw(new java.awt.geom.Line2D.Float(x0, y, x1, y));
            g.setColor(new Color(0x555555));
            String s = Chart.label(t);
            g.drawString(s, x0 - 6 - g.getFontMetrics().stringWidth(s), y + 4);
        }
        for (double t : c.xTicks()) {
            float x = (float) c.x(t);
            g.setColor(new Color(0xe5e5e5));
            g.draw(new java.awt.geom.Line2D.Float(x, y0, x, y1));
            g.setColor(new Color(0x555555));
            String s = Chart.label(t);
            g.drawString(s, x - g.getFontMetrics().stringWidth(s) / 2f, y1 + 16);
        }
        g.setColor(new Color(0x999999));
        g.drawRect(x0, y0, x1 - x0, y1 - y0);
        g.setColor(new Color(0x555555));
        g.drawString("step", (x0 + x1) / 2f - g.getFontMetrics().stringWidth("step") / 2f, c.height - 8);
        for (Chart.Series s : c.series) {
            Color col = Color.decode(s.color());
            g.setColor(col);
            g.setStroke(s.dashed() ? new BasicStroke(1.6f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f,
                    new float[] {6, 4}, 0) : new BasicStroke(1.6f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            Path2D.Double path = new Path2D.Double();
            boolean first = true;
            for (RunData.Point p : s.points()) {
                if (first) {
                    path.moveTo(c.x(p.step()), c.y(p.value()));
                    first = false;
                } else {
                    path.lineTo(c.x(p.step()), c.y(p.value()));
                }
            }
            g.draw(path);
            if (s.dashed() || s.points().size() == 1) {
                for (RunData.Point p : s.points()) {
                    g.fill(new java.awt.geom.Ellipse2D.Double(c.x(p.step()) - 3, c.y(p.value()) - 3, 6, 6));
                }
            }
        }
        for (Chart.LegendItem li : c.legend) {
            g.setColor(Color.decode(li.series().color()));
            g.setStroke(li.series().dashed() ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 1f,
                    new float[] {6, 4}, 0) : new BasicStroke(2f));
            g.drawLine(li.x(), li.y() - 4, li.x() + 22, li.y() - 4);
            g.setColor(new Color(0x333333));
            g.drawString(li.text(), li.x() + 28, li.y());
        }
    }
}
