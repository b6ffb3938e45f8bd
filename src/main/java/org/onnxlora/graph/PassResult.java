package org.onnxlora.graph;

import java.util.List;

/**
 * What one rewrite pass did: its output, what it changed and what it looked at but left
 * alone, with the reason. Every pass (patch, merge, adapter arithmetic, the compiler's
 * forward rewrites, the Optimum stitch) answers with one, so a caller — or a test — can
 * check the effect of a rewrite without diffing graphs, and a rewrite that silently did
 * nothing shows up as a refusal instead.
 *
 * <p>Errors that make the output unusable are still thrown ({@code OnnxLoraException});
 * a refusal is a candidate the pass declined and the output is valid without it.
 *
 * @param pass the pass's name, for reports ({@code "gelu-fusion"})
 * @param output the rewritten model or graph; the input itself when nothing changed
 * @param changed one entry per rewritten site (a module path, a node or value name)
 * @param refused the candidates left unchanged, each with why
 */
public record PassResult<T>(String pass, T output, List<String> changed, List<Refusal> refused) {

    /** A candidate the pass did not rewrite: what it is ({@code subject}) and why not. */
    public record Refusal(String subject, String reason) {
        @Override
        public String toString() {
            return subject + ": " + reason;
        }
    }

    public PassResult {
        changed = List.copyOf(changed);
        refused = List.copyOf(refused);
    }

    /** A pass that found nothing to do and nothing to refuse. */
    public static <T> PassResult<T> unchanged(String pass, T input) {
        return new PassResult<>(pass, input, List.of(), List.of());
    }

    public boolean isChanged() {
        return !changed.isEmpty();
    }

    /** One line for logs: {@code "gelu-fusion: 12 changed, 1 refused (x: reason)"}. */
    public String summary() {
        String s = pass + ": " + changed.size() + " changed, " + refused.size() + " refused";
        return refused.isEmpty() ? s : s + " (" + refused.get(0) + (refused.size() > 1 ? ", …)" : ")");
    }
}
