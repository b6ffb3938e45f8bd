/**
 * Evaluation metrics for generated text. {@link org.onnxlora.metrics.Rouge} reproduces
 * Google's {@code rouge_score} (ROUGE-1, ROUGE-2, ROUGE-L) with its default tokenization.
 */
package org.onnxlora.metrics;
