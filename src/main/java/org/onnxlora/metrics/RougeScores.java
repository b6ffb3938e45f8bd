package org.onnxlora.metrics;

/** ROUGE-1, ROUGE-2 and ROUGE-L of one example, or their means over a corpus. */
public record RougeScores(RougeScore rouge1, RougeScore rouge2, RougeScore rougeL) {}
