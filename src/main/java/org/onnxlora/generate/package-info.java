/**
 * Batched text generation with seq2seq ONNX models: greedy and beam search with
 * Hugging Face's semantics, on a single full model (re-run per step) or an Optimum
 * export (encoder once, decoder with a key/value cache).
 *
 * <p>{@link org.onnxlora.generate.Generator} is the entry point;
 * {@link org.onnxlora.generate.GenerationConfig} says how to search. Internally a
 * {@code StepModel} turns a model into "next-token logits per row" and the search
 * algorithms ({@code GreedySearch}, {@code BeamSearch}) only see that.
 */
package org.onnxlora.generate;
