package org.onnxlora.data;

/** One usable row: the source and target texts and the line of the file it starts on (1-based). */
public record TextPair(String source, String target, int line) {}
