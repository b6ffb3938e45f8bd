package org.onnxlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.onnxlora.proto.TensorBoard.Event;
import org.onnxlora.proto.TensorBoard.Summary;
import org.onnxlora.tensorboard.EventFileReader;
import org.onnxlora.testing.Fixtures;

/**
 * Two short runs that differ only in rank: their TensorBoard files equal metrics.jsonl, the
 * report opens in headless Chromium without console errors with one point per logged step,
 * highlights exactly the rank, shows attached evals, and bad runs are reported.
 */
class ReportCliTest {
    @TempDir
    static Path tmp;
    static Path runA;
    static Path runB;
    static Path valid;

    static List<String> train(Path out, int rank) {
        return List.of("train", "--model", Fixtures.torchscript().toString(), "--tokenizer",
                Fixtures.tokenizer().toString(), "--train", "models/datasets/manpages/train.jsonl", "--valid",
                valid.toString(), "--out", out.toString(), "--batch-size", "4", "--lr", "3e-3", "--steps", "5",
                "--eval-every", "2", "--threads", "2", "--rank", String.valueOf(rank), "--target", "q_proj,v_proj", "-q");
    }

    @BeforeAll
    static void trainTwoRuns() throws IOException {
        valid = tmp.resolve("valid.jsonl");
        Files.write(valid, Files.readAllLines(Path.of("models/datasets/manpages/valid.jsonl")).subList(0, 16));
        runA = tmp.resolve("r4");
        runB = tmp.resolve("r8");
        for (Object[] r : new Object[][] {{runA, 4}, {runB, 8}}) {
            CliTest.Run t = CliTest.run(train((Path) r[0], (Integer) r[1]).toArray(String[]::new));
            assertEquals(0, t.code(), t.err());
        }
    }

    static List<JsonObject> metrics(Path run) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
            out.add(JsonParser.parseString(l).getAsJsonObject());
        }
        return out;
    }

    @Test
    void tensorBoardEventsEqualMetricsJsonl() throws IOException {
        List<Path> files = EventFileReader.files(runA.resolve("tb"));
        assertEquals(1, files.size(), files.toString());
        EventFileReader.Contents c = EventFileReader.read(files.get(0)); // checks framing and both CRCs
        assertFalse(c.tornTail());
        assertEquals("brain.Event:2", c.events().get(0).getFileVersion());
        Map<String, Float> got = new HashMap<>();
        String config = null;
        for (Event e : c.events().subList(1, c.events().size())) {
            for (Summary.Value v : e.getSummary().getValueList()) {
                if (v.hasTensor()) {
                    config = v.getTensor().getStringVal(0).toStringUtf8();
                } else {
                    assertTrue(got.put(v.getTag() + "@" + e.getStep(), v.getSimpleValue()) == null, "twice: " + v.getTag());
                }
            }
        }
        Map<String, Float> want = new HashMap<>();
        for (JsonObject o : metrics(runA)) {
            long step = o.get("step").getAsLong();
            o.entrySet().stream().filter(x -> !x.getKey().equals("step") && x.getValue().getAsJsonPrimitive().isNumber())
                    .forEach(x -> want.put(o.get("event").getAsString() + "/" + x.getKey() + "@" + step,
                            x.getValue().getAsFloat()));
        }
        assertEquals(want, got);
        assertTrue(want.keySet().containsAll(List.of("train/loss@5", "train/lr@1", "train/grad_norm@3",
                "train/tokens_per_second@2", "eval/valid_loss@0", "eval/valid_loss@4")), want.keySet().toString());
        assertTrue(config != null && config.contains("| rank | 4 |"), String.valueOf(config));
    }

    @Test
    void reportOpensInChromiumWithEveryPointAndHighlightsOnlyTheRank() throws Exception {
        Path html = tmp.resolve("ranks.html");
        CliTest.Run r = CliTest.run("report", runA.toString(), runB.toString(), "--out", html.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("warning"), r.err());
        String page = Files.readString(html);
        assertFalse(Pattern.compile("(src|href)\\s*=\\s*\"?(https?:|//)").matcher(page).find(), "the page fetches");

        Path shot = tmp.resolve("shot.png");
        Chromium.Result b = Chromium.load(html, shot);
        assertEquals(List.of(), b.consoleLines(), "console output");
        String dom = b.dom();
        assertTrue(dom.contains("id=\"self-check\" data-status=\"ok\""), "in-page self-check: " + selfCheck(dom));

        for (Path run : List.of(runA, runB)) {
            List<JsonObject> m = metrics(run);
            Map<String, Integer> want = Map.of(
                    "train_loss", count(m, "train", "loss"),
                    "valid_loss", count(m, "eval", "valid_loss"),
                    "lr", count(m, "train", "lr"),
                    "grad_norm", count(m, "train", "grad_norm"),
                    "tokens_per_second", count(m, "train", "tokens_per_second"));
            assertEquals(5, want.get("train_loss"));
            assertEquals(4, want.get("valid_loss")); // steps 0, 2, 4 and the last
            String name = run.getFileName().toString();
            for (var e : want.entrySet()) {
                assertEquals(e.getValue(), points(dom, name, e.getKey()), name + " " + e.getKey());
            }
        }
        assertEquals(Set.of("rank"), differing(dom));
        assertTrue(ImageIO.read(shot.toFile()).getWidth() > 500, "screenshot");
        Path png = tmp.resolve("ranks.png");
        assertTrue(Files.size(png) > 10_000, "PNG next to the HTML");
        assertEquals(1800, ImageIO.read(png.toFile()).getWidth());
    }

    @Test
    void evalResultsAttachToTheRunAndShowInTheReport() throws IOException {
        Path run = tmp.resolve("evalrun");
        copyRun(runB, run);
        String[] eval = {"eval", "--model", run.resolve("model.onnx").toString(), "--run", run.toString(),
            "--tokenizer", Fixtures.tokenizer().toString(), "--data", valid.toString(), "--no-generate", "--threads", "2",
            "-q"};
        CliTest.Run e = CliTest.run(eval);
        assertEquals(0, e.code(), e.err());
        JsonObject attached = JsonParser.parseString(Files.readString(run.resolve("eval/valid.json"))).getAsJsonObject();
        assertEquals(JsonParser.parseString(e.out()).getAsJsonObject().get("loss"), attached.get("loss"));
        assertTrue(attached.get("adapter").getAsString().endsWith("evalrun"), "a patched model gets the run's adapters");
        double lastValid = metrics(run).stream().filter(o -> o.get("event").getAsString().equals("eval"))
                .reduce((a, b) -> b).orElseThrow().get("valid_loss").getAsDouble();
        assertEquals(lastValid, attached.get("loss").getAsDouble(), 1e-4, "scored with the trained adapters");
        CliTest.assertOneLineError(CliTest.run(eval), 3, "valid.json", "--force");

        Path html = tmp.resolve("eval.html");
        assertEquals(0, CliTest.run("report", run.toString(), "--out", html.toString(), "-q").code());
        String page = Files.readString(html);
        assertTrue(page.contains("<tr class=\"eval\"><td>evalrun</td><td>valid</td>"), page);
    }

    @Test
    void notARunIsOneLine() throws IOException {
        Path empty = Files.createDirectories(tmp.resolve("notarun"));
        Files.writeString(empty.resolve("notes.txt"), "x");
        CliTest.assertOneLineError(CliTest.run("report", empty.toString(), "--out", tmp.resolve("x.html").toString()),
                2, "notarun", "is not a run folder");
        assertFalse(Files.exists(tmp.resolve("x.html")));
        CliTest.assertOneLineError(CliTest.run("report", tmp.resolve("missing").toString(), "--out",
                tmp.resolve("x.html").toString()), 2, "missing", "is not a run folder");
    }

    @Test
    void truncatedAndEmptyMetricsShowWhatIsThereAndSayWhatIsMissing() throws Exception {
        Path cut = tmp.resolve("cut");
        Files.createDirectories(cut);
        Files.copy(runA.resolve("run.json"), cut.resolve("run.json"));
        String text = Files.readString(runA.resolve("metrics.jsonl"));
        List<String> lines = text.lines().toList();
        int keep = 5; // eval@0, train@1, train@2, eval@2, train@3: the sixth line is cut mid-JSON
        String cutText = String.join("\n", lines.subList(0, keep)) + "\n" + lines.get(keep).substring(0, 25);
        Files.writeString(cut.resolve("metrics.jsonl"), cutText);
        Path empty = tmp.resolve("empty");
        Files.createDirectories(empty);
        Files.writeString(empty.resolve("metrics.jsonl"), "");

        Path html = tmp.resolve("bad.html");
        CliTest.Run r = CliTest.run("report", cut.toString(), empty.toString(), "--out", html.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("warning: cut: metrics.jsonl line 6 is cut off"), r.err());
        assertTrue(r.err().contains("warning: cut: no summary.json"), r.err());
        assertTrue(r.err().contains("warning: empty: metrics.jsonl is empty"), r.err());
        assertTrue(r.err().contains("warning: empty: no run.json"), r.err());
        Chromium.Result b = Chromium.load(html, null);
        assertEquals(List.of(), b.consoleLines());
        assertTrue(b.dom().contains("data-status=\"ok\""), selfCheck(b.dom()));
        assertTrue(b.dom().contains("<li class=\"notice\">cut: metrics.jsonl line 6 is cut off"), b.dom());
        assertEquals(3, points(b.dom(), "cut", "train_loss"));
        assertEquals(0, points(b.dom(), "empty", "train_loss"));
        assertEquals(2, points(b.dom(), "cut", "valid_loss"));
    }

    private static int count(List<JsonObject> m, String event, String key) {
        return (int) m.stream().filter(o -> o.get("event").getAsString().equals(event) && o.has(key)).count();
    }

    /** Points of one curve in the DOM Chromium built (its polyline's points attribute). */
    private static int points(String dom, String run, String metric) {
        Matcher m = Pattern.compile("<polyline class=\"series\" data-run=\"" + Pattern.quote(run) + "\" data-metric=\""
                + metric + "\"[^>]*? points=\"([^\"]*)\"").matcher(dom);
        if (!m.find()) {
            fail("no " + metric + " curve of " + run);
        }
        String p = m.group(1).trim();
        return p.isEmpty() ? 0 : p.split("\\s+").length;
    }

    private static Set<String> differing(String dom) {
        Set<String> out = new LinkedHashSet<>();
        Matcher m = Pattern.compile("<tr data-key=\"([^\"]+)\" class=\"differs\">").matcher(dom);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }

    private static String selfCheck(String dom) {
        Matcher m = Pattern.compile("<p id=\"self-check\"[^>]*>[^<]*</p>").matcher(dom);
        return m.find() ? m.group() : "no self-check element";
    }

    private static void copyRun(Path from, Path to) throws IOException {
        try (var s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }

    /** Debian's chromium, headless: the DOM after scripts ran, console lines, optionally a screenshot. */
    static final class Chromium {
        record Result(String dom, List<String> consoleLines) {}

        static Result load(Path html, Path screenshot) throws Exception {
            String exe = find();
            Path profile = Files.createTempDirectory(tmp, "chromium");
            List<String> base = List.of(exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0", "--window-size=1000,2400");
            String url = html.toUri().toString();
            List<String> dump = new ArrayList<>(base);
            dump.add("--dump-dom");
            dump.add(url);
            String[] out = exec(dump);
            List<String> console = new ArrayList<>();
            for (String l : out[1].split("\n")) {
                if (l.contains(":CONSOLE")) {
                    console.add(l);
                }
            }
            if (screenshot != null) {
                List<String> shot = new ArrayList<>(base);
                shot.add("--screenshot=" + screenshot);
                shot.add(url);
                exec(shot);
                assertTrue(Files.size(screenshot) > 10_000, "screenshot not written");
            }
            return new Result(out[0], console);
        }

        private static String find() {
            for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
                for (String name : List.of("chromium", "chromium-browser")) {
                    Path p = Path.of(dir, name);
                    if (Files.isExecutable(p)) {
                        return p.toString();
                    }
                }
            }
            fail("chromium is not installed: this test opens the report in a real browser; install it with"
                    + " 'apt-get install chromium' (.ci/run does so on CI)");
            return null;
        }

        private static String[] exec(List<String> cmd) throws Exception {
            Path out = Files.createTempFile(tmp, "chromium", ".out");
            Path err = Files.createTempFile(tmp, "chromium", ".err");
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("chromium did not finish within 60 s: " + Files.readString(err));
            }
            assertEquals(0, p.exitValue(), Files.readString(err));
            return new String[] {Files.readString(out, StandardCharsets.UTF_8), Files.readString(err)};
        }
    }
}
