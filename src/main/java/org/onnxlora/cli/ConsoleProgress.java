package org.onnxlora.cli;

import java.io.PrintWriter;
import org.onnxlora.Progress;

/** A one-line progress bar on stderr, drawn only when a console is attached (never into logs or pipes). */
final class ConsoleProgress implements Progress {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private final boolean enabled;
    private String task = "";
    private long total;
    private long startNanos;
    private long lastDraw;

    ConsoleProgress(PrintWriter err, boolean enabled) {
        this.err = err;
        this.enabled = enabled;
    }

    @Override
    public void start(String task, long total) {
        this.task = task;
        this.total = total;
        this.startNanos = System.nanoTime();
        this.lastDraw = 0;
        draw(0, "");
    }

    @Override
    public void advance(long done, String status) {
        long now = System.nanoTime();
        if (now - lastDraw > 100_000_000L || done >= total) {
            lastDraw = now;
            draw(done, status);
        }
    }

    private void draw(long done, String status) {
        if (!enabled) {
            return;
        }
        StringBuilder sb = new StringBuilder("\r").append(task).append(' ');
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        if (total > 0) {
            int filled = (int) Math.min(WIDTH, WIDTH * done / total);
            sb.append('[').append("#".repeat(filled)).append(" ".repeat(WIDTH - filled)).append("] ")
                    .append(done).append('/').append(total);
            if (done > 0 && done < total) {
                double eta = elapsed / done * (total - done);
                sb.append(String.format(java.util.Locale.ROOT, " ETA %s", Durations.format(eta)));
            }
        } else {
            sb.append(done);
        }
        sb.append(String.format(java.util.Locale.ROOT, " %s", Durations.format(elapsed)));
        if (status != null && !status.isEmpty()) {
            sb.append(' ').append(status);
        }
        sb.append("\u001b[K");
        err.print(sb);
        err.flush();
    }

    @Override
    public void finish() {
        if (enabled) {
            err.println();
            err.flush();
        }
    }
}
