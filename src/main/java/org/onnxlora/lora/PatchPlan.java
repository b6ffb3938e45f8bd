package org.onnxlora.lora;

import java.util.List;

/**
 * What a patch will do, decided before any tensor is touched (this is what
 * {@code patch --dry-run} prints).
 *
 * @param selected projections to patch, with their rank and scaling
 * @param skipped every attention projection left alone, and why
 * @param discovery everything the finder saw
 */
public record PatchPlan(List<Selected> selected, List<Skipped> skipped, Discovery discovery) {

    public record Selected(Projection projection, int rank, double alpha, double scaling, String selectedBy) {}

    public record Skipped(String modulePath, String node, String reason) {}
}
