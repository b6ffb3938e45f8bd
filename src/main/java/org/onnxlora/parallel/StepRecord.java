package org.onnxlora.parallel;

/**
 * What one step amounted to over all ranks, as rank 0 logs it (a run's metrics.jsonl).
 *
 * @param loss the global mean token loss: every rank's loss sum over every rank's loss tokens
 * @param lossTokens the target tokens the loss averages over, all ranks
 * @param tokens the non-padding tokens of all ranks' batches, source and target (what throughput counts)
 * @param stepSeconds rank 0's wall time from the start of its forward pass to its optimizer step's end
 * @param allReduceSeconds of which rank 0 spent in the gradient sum (waiting for slower ranks included)
 * @param workers the ranks of the group
 */
public record StepRecord(long step, double loss, double lossTokens, double tokens, double stepSeconds,
                         double allReduceSeconds, int workers) {}
