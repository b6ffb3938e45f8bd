package org.onnxlora.cli;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * "Did you mean" for a mistyped command or option. picocli proposes options only by their first
 * two letters ({@code --rnak} gets nothing) and commands by letter-pair similarity, so candidates
 * are ranked by edit distance first and picocli's own suggestions are the fallback.
 */
final class Suggestions {
    private Suggestions() {}

    /** One line for an unmatched argument: what was not understood and, when something is close, what was meant. */
    static String describe(UnmatchedArgumentException e) {
        List<String> unmatched = e.getUnmatched();
        if (unmatched.isEmpty()) {
            return e.getMessage();
        }
        CommandSpec spec = e.getCommandLine().getCommandSpec();
        String arg = unmatched.get(0);
        String what;
        List<String> names;
        if (arg.startsWith("-")) {
            int eq = arg.indexOf('=');
            arg = eq > 0 ? arg.substring(0, eq) : arg;
            what = "Unknown option: '" + arg + "'";
            names = optionNames(spec);
        } else if (!spec.subcommands().isEmpty()) {
            what = "Unknown command: '" + arg + "'";
            names = commandNames(spec);
        } else {
            return e.getMessage();
        }
        List<String> close = closest(arg, names);
        if (close.isEmpty()) {
            close = e.getSuggestions().stream().limit(3).toList();
        }
        return close.isEmpty() ? what : what + "; did you mean " + String.join(" or ", close) + "?";
    }

    /** The names within a small edit distance of {@code arg}, nearest first (ties kept, at most three). */
    static List<String> closest(String arg, List<String> names) {
        String a = arg.toLowerCase(Locale.ROOT);
        int limit = Math.max(2, a.replaceFirst("^-+", "").length() / 4);
        List<String> near = new ArrayList<>();
        int best = Integer.MAX_VALUE;
        for (String n : names) {
            int d = distance(a, n.toLowerCase(Locale.ROOT));
            if (d > limit || d > best) {
                continue;
            }
            if (d < best) {
                near.clear();
                best = d;
            }
            near.add(n);
        }
        near.sort(Comparator.naturalOrder());
        return near.subList(0, Math.min(3, near.size()));
    }

    private static List<String> optionNames(CommandSpec spec) {
        List<String> names = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (!o.hidden()) {
                names.addAll(List.of(o.names()));
            }
        }
        return names;
    }

    private static List<String> commandNames(CommandSpec spec) {
        List<String> names = new ArrayList<>();
        spec.subcommands().forEach((name, cl) -> {
            if (!cl.getCommandSpec().usageMessage().hidden()) {
                names.add(name);
            }
        });
        return names;
    }

    /** Optimal-string-alignment distance: insertions, deletions, substitutions and adjacent swaps cost 1. */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }

    /**
     * picocli reports a missing required option before an unknown one, so {@code --modle x}
     * would read "Missing required option '--model'"; the typo is the real cause.
     */
    static CommandLine.ParameterException typoFirst(CommandLine.ParameterException e) {
        if (e instanceof UnmatchedArgumentException) {
            return e;
        }
        List<String> unmatched = e.getCommandLine().getUnmatchedArguments();
        return unmatched.isEmpty() ? e : new UnmatchedArgumentException(e.getCommandLine(), new ArrayList<>(unmatched));
    }
}
