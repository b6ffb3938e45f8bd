package org.onnxlora.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The package dependencies of a Java source tree, read from the sources themselves: every
 * {@code import} (static ones too) and every qualified name in code ({@code org.onnxlora.x.Y}
 * written out, as {@code GradientRegistry.standard()} once named {@code StandardRules}). Comments
 * and string literals are stripped first, so a Javadoc mention is not a dependency. A referenced
 * class's package is the name up to its first capitalised segment. Plain Java on purpose: the
 * check needs imports and qualified names only, which ArchUnit's bytecode view would add a
 * dependency for and still miss in comments-vs-code edge cases no better than this.
 */
public final class PackageGraph {
    private static final Pattern PACKAGE = Pattern.compile("^\\s*package\\s+([\\w.]+)\\s*;", Pattern.MULTILINE);
    private static final Pattern IMPORT = Pattern.compile("^\\s*import\\s+(?:static\\s+)?([\\w.]+)(?:\\.\\*)?\\s*;",
            Pattern.MULTILINE);
    private static final Pattern COMMENTS_AND_STRINGS = Pattern.compile(
            "//[^\\n]*|/\\*.*?\\*/|\"\"\".*?\"\"\"|\"(?:\\\\.|[^\"\\\\\\n])*\"|'(?:\\\\.|[^'\\\\\\n])+'", Pattern.DOTALL);

    /** One dependency: {@code from} names {@code to} in {@code file} as {@code via}. */
    public record Use(String from, String to, Path file, String via) {}

    private final String root;
    private final Map<String, Map<String, List<Use>>> edges = new TreeMap<>();
    private final Set<String> packages = new TreeSet<>();

    private PackageGraph(String root) {
        this.root = root;
    }

    /** Reads every .java file under {@code sourceRoot}, keeping dependencies between packages of {@code root}. */
    public static PackageGraph read(Path sourceRoot, String root) throws IOException {
        return read(List.of(sourceRoot), root);
    }

    /** One graph over several source roots (a release-17 set and a Java 22 one); a missing root adds nothing. */
    public static PackageGraph read(List<Path> sourceRoots, String root) throws IOException {
        PackageGraph g = new PackageGraph(root);
        for (Path sourceRoot : sourceRoots) {
            if (!Files.isDirectory(sourceRoot)) {
                continue;
            }
            List<Path> files;
            try (Stream<Path> s = Files.walk(sourceRoot)) {
                files = s.filter(p -> p.toString().endsWith(".java")).sorted().toList();
            }
            for (Path f : files) {
                g.add(f, Files.readString(f));
            }
        }
        return g;
    }

    private void add(Path file, String text) {
        String code = COMMENTS_AND_STRINGS.matcher(text).replaceAll(" ");
        Matcher pm = PACKAGE.matcher(code);
        if (!pm.find()) {
            return;
        }
        String from = pm.group(1);
        packages.add(from);
        Matcher im = IMPORT.matcher(code);
        while (im.find()) {
            use(from, im.group(1), file);
        }
        String body = IMPORT.matcher(code.substring(pm.end())).replaceAll(" ");
        Matcher qm = Pattern.compile("(?<![\\w.])" + Pattern.quote(root) + "(?:\\.[a-z_][\\w]*)*\\.[A-Z]\\w*")
                .matcher(body);
        while (qm.find()) {
            use(from, qm.group(), file);
        }
    }

    private void use(String from, String qualified, Path file) {
        if (!qualified.startsWith(root + ".") && !qualified.equals(root)) {
            return;
        }
        String to = packageOf(qualified);
        if (!to.equals(from)) {
            edges.computeIfAbsent(from, k -> new TreeMap<>()).computeIfAbsent(to, k -> new ArrayList<>())
                    .add(new Use(from, to, file, qualified));
        }
    }

    /** {@code a.b.C.D} → {@code a.b}; {@code a.b.c} (a package import) stays as it is. */
    private static String packageOf(String qualified) {
        String[] parts = qualified.split("\\.");
        StringBuilder sb = new StringBuilder();
        for (String p : parts) {
            if (!p.isEmpty() && Character.isUpperCase(p.charAt(0))) {
                break;
            }
            if (sb.length() > 0) {
                sb.append('.');
            }
            sb.append(p);
        }
        return sb.toString();
    }

    /** Packages that hold at least one source file. */
    public Set<String> packages() {
        return packages;
    }

    /** Every dependency of {@code from}, by target package. */
    public Map<String, List<Use>> usesOf(String from) {
        return edges.getOrDefault(from, Map.of());
    }

    /** Every dependency, one entry per (from, to) pair with the uses that make it. */
    public List<List<Use>> allEdges() {
        List<List<Use>> out = new ArrayList<>();
        edges.values().forEach(m -> out.addAll(m.values()));
        return out;
    }

    /**
     * The package cycles (strongly connected components of more than one package), each as its
     * sorted package names, ignoring the edges in {@code ignored} ("from -> to").
     */
    public List<List<String>> cycles(Set<String> ignored) {
        Map<String, Integer> index = new HashMap<>();
        Map<String, Integer> low = new HashMap<>();
        Deque<String> stack = new ArrayDeque<>();
        Set<String> onStack = new TreeSet<>();
        List<List<String>> out = new ArrayList<>();
        int[] counter = {0};
        Set<String> nodes = new TreeSet<>(packages);
        edges.forEach((f, m) -> {
            nodes.add(f);
            nodes.addAll(m.keySet());
        });
        for (String n : nodes) {
            if (!index.containsKey(n)) {
                strongConnect(n, ignored, index, low, stack, onStack, out, counter);
            }
        }
        return out;
    }

    private void strongConnect(String v, Set<String> ignored, Map<String, Integer> index, Map<String, Integer> low,
            Deque<String> stack, Set<String> onStack, List<List<String>> out, int[] counter) {
        index.put(v, counter[0]);
        low.put(v, counter[0]++);
        stack.push(v);
        onStack.add(v);
        for (String w : usesOf(v).keySet()) {
            if (ignored.contains(v + " -> " + w)) {
                continue;
            }
            if (!index.containsKey(w)) {
                strongConnect(w, ignored, index, low, stack, onStack, out, counter);
                low.put(v, Math.min(low.get(v), low.get(w)));
            } else if (onStack.contains(w)) {
                low.put(v, Math.min(low.get(v), index.get(w)));
            }
        }
        if (low.get(v).equals(index.get(v))) {
            List<String> component = new ArrayList<>();
            String w;
            do {
                w = stack.pop();
                onStack.remove(w);
                component.add(w);
            } while (!w.equals(v));
            if (component.size() > 1) {
                component.sort(null);
                out.add(component);
            }
        }
    }
}
