package org.onnxlora.metrics;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Google rouge_score's default tokenization: lowercase, every run of characters other
 * than {@code a-z0-9} becomes a space (so accented letters and non-Latin scripts are
 * dropped, as there), split on whitespace. An optional stemmer is applied, as there,
 * only to tokens longer than 3 characters; rouge_score uses NLTK's Porter stemmer,
 * which is not bundled here, so a caller that needs {@code use_stemmer=True} parity
 * plugs one in.
 */
public final class RougeTokenizer {
    public static final RougeTokenizer DEFAULT = new RougeTokenizer(null);

    private static final Pattern NON_ALPHANUMERIC = Pattern.compile("[^a-z0-9]+");
    private static final Pattern VALID = Pattern.compile("[a-z0-9]+");

    private final UnaryOperator<String> stemmer;

    /** @param stemmer applied to tokens longer than 3 characters; null = no stemming */
    public RougeTokenizer(UnaryOperator<String> stemmer) {
        this.stemmer = stemmer;
    }

    public List<String> tokenize(String text) {
        String cleaned = NON_ALPHANUMERIC.matcher(text.toLowerCase(Locale.ROOT)).replaceAll(" ");
        List<String> tokens = new ArrayList<>();
        for (String t : cleaned.trim().split("\\s+")) {
            String s = stemmer != null && t.length() > 3 ? stemmer.apply(t) : t;
            // A stemmer may return anything; rouge_score keeps only alphanumeric tokens.
            if (VALID.matcher(s).matches()) {
                tokens.add(s);
            }
        }
        return tokens;
    }
}
