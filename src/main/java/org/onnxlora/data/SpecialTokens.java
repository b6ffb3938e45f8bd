package org.onnxlora.data;

/**
 * Ids of the special tokens a seq2seq batch needs, taken from the tokenizer's added tokens.
 * An id is -1 when the tokenizer has no such token.
 */
public record SpecialTokens(int pad, int bos, int eos, int unk) {
    public static final int ABSENT = -1;
}
