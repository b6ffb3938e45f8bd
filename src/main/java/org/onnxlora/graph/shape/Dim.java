package org.onnxlora.graph.shape;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A tensor dimension known at compile time: a polynomial with integer
 * coefficients over named symbolic sizes ({@code batch}, {@code 4*batch},
 * {@code source_length + 1}, or a plain constant). Two dims denote the same size
 * whenever their polynomials are equal, which is what lets gradient rules prove
 * that nothing needs to be reduced. Immutable.
 */
public final class Dim {
    /** Monomial (sorted symbol names, with repetition) → coefficient; the constant term has the empty monomial. */
    private final TreeMap<List<String>, Long> terms;

    private static final java.util.Comparator<List<String>> ORDER = (a, b) -> {
        if (a.size() != b.size()) {
            return Integer.compare(a.size(), b.size());
        }
        for (int i = 0; i < a.size(); i++) {
            int c = a.get(i).compareTo(b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return 0;
    };

    private Dim(TreeMap<List<String>, Long> terms) {
        this.terms = terms;
    }

    public static Dim of(long value) {
        TreeMap<List<String>, Long> t = new TreeMap<>(ORDER);
        if (value != 0) {
            t.put(List.of(), value);
        }
        return new Dim(t);
    }

    public static Dim symbol(String name) {
        TreeMap<List<String>, Long> t = new TreeMap<>(ORDER);
        t.put(List.of(name), 1L);
        return new Dim(t);
    }

    public boolean isConstant() {
        return terms.isEmpty() || terms.size() == 1 && terms.firstKey().isEmpty();
    }

    /** The value of a constant dim; only valid when {@link #isConstant()}. */
    public long constant() {
        if (!isConstant()) {
            throw new IllegalStateException(this + " is not a constant");
        }
        return terms.isEmpty() ? 0 : terms.firstEntry().getValue();
    }

    public boolean isConstant(long value) {
        return isConstant() && constant() == value;
    }

    /** The symbols this dim depends on. */
    public Set<String> symbols() {
        Set<String> s = new TreeSet<>();
        terms.keySet().forEach(s::addAll);
        return s;
    }

    /** The single symbol this dim is, or null (a constant, or a compound expression). */
    public String asSymbol() {
        if (terms.size() == 1) {
            Map.Entry<List<String>, Long> e = terms.firstEntry();
            if (e.getKey().size() == 1 && e.getValue() == 1) {
                return e.getKey().get(0);
            }
        }
        return null;
    }

    /** The terms (monomial → coefficient), for emitting the dim as a run-time value. */
    public Map<List<String>, Long> terms() {
        return Collections.unmodifiableMap(terms);
    }

    /** True when the dim is non-negative for every non-negative value of its symbols (sizes never are negative). */
    public boolean isNonNegative() {
        return terms.values().stream().allMatch(c -> c >= 0);
    }

    public Dim plus(Dim o) {
        TreeMap<List<String>, Long> t = new TreeMap<>(terms);
        o.terms.forEach((m, c) -> t.merge(m, c, Long::sum));
        t.values().removeIf(c -> c == 0);
        return new Dim(t);
    }

    public Dim negate() {
        TreeMap<List<String>, Long> t = new TreeMap<>(ORDER);
        terms.forEach((m, c) -> t.put(m, -c));
        return new Dim(t);
    }

    public Dim minus(Dim o) {
        return plus(o.negate());
    }

    public Dim times(Dim o) {
        TreeMap<List<String>, Long> t = new TreeMap<>(ORDER);
        for (Map.Entry<List<String>, Long> a : terms.entrySet()) {
            for (Map.Entry<List<String>, Long> b : o.terms.entrySet()) {
                List<String> m = new ArrayList<>(a.getKey());
                m.addAll(b.getKey());
                Collections.sort(m);
                t.merge(List.copyOf(m), Math.multiplyExact(a.getValue(), b.getValue()), Long::sum);
            }
        }
        t.values().removeIf(c -> c == 0);
        return new Dim(t);
    }

    /**
     * This dim divided by {@code d} when the quotient is exact for every value of
     * the symbols (each term divisible by a single-term divisor); empty otherwise.
     * Two constants divide as ONNX integer Div does only when exact, too.
     */
    public Optional<Dim> exactlyDividedBy(Dim d) {
        if (d.terms.size() != 1) {
            return Optional.empty();
        }
        List<String> dm = d.terms.firstKey();
        long dc = d.terms.firstEntry().getValue();
        TreeMap<List<String>, Long> t = new TreeMap<>(ORDER);
        for (Map.Entry<List<String>, Long> e : terms.entrySet()) {
            if (e.getValue() % dc != 0) {
                return Optional.empty();
            }
            List<String> rest = new ArrayList<>(e.getKey());
            for (String s : dm) {
                if (!rest.remove(s)) {
                    return Optional.empty();
                }
            }
            t.put(List.copyOf(rest), e.getValue() / dc);
        }
        return Optional.of(new Dim(t));
    }

    /** The dim's value with every symbol bound; throws if one is missing. */
    public long evaluate(Map<String, Long> bindings) {
        long sum = 0;
        for (Map.Entry<List<String>, Long> e : terms.entrySet()) {
            long p = e.getValue();
            for (String s : e.getKey()) {
                Long v = bindings.get(s);
                if (v == null) {
                    throw new IllegalArgumentException("no value for symbol '" + s + "' in " + this);
                }
                p *= v;
            }
            sum += p;
        }
        return sum;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Dim d && terms.equals(d.terms);
    }

    @Override
    public int hashCode() {
        return Objects.hash(terms);
    }

    @Override
    public String toString() {
        if (terms.isEmpty()) {
            return "0";
        }
        StringBuilder s = new StringBuilder();
        Iterator<Map.Entry<List<String>, Long>> it = terms.descendingMap().entrySet().iterator();
        while (it.hasNext()) {
            Map.Entry<List<String>, Long> e = it.next();
            long c = e.getValue();
            if (s.length() > 0) {
                s.append(c < 0 ? " - " : " + ");
                c = Math.abs(c);
            }
            if (e.getKey().isEmpty()) {
                s.append(c);
            } else {
                if (c != 1) {
                    s.append(c == -1 ? "-" : c + "*");
                }
                s.append(String.join("*", e.getKey()));
            }
        }
        return s.toString();
    }
}
