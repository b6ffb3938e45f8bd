package org.onnxlora.autodiff;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Predicate;
import org.onnxlora.graph.Attrs;
import org.onnxlora.graph.GraphBuilder;
import org.onnxlora.graph.shape.Dim;
import org.onnxlora.graph.shape.SymbolicShapes;

/**
 * Symbolic shapes turned into the 1-D int64 tensors that Reshape, Expand and
 * ConstantOfShape take, reading each symbol where {@link SymbolicShapes#dimSource}
 * says it is cheapest (a dim of a graph input, or an element of a small shape
 * tensor the forward computed), never from the large activation whose shape is
 * wanted: a {@code Shape} of it would keep it alive until the backward ran. Each
 * symbol and each shape is emitted once per graph.
 */
final class ShapeTensors {
    private final GraphBuilder b;
    private final SymbolicShapes shapes;
    private final Function<String, String> shapeOf;
    private final Predicate<String> isInt64;
    private final Map<String, String> symbols = new HashMap<>();
    private final Map<List<Object>, String> vectors = new HashMap<>();

    ShapeTensors(GraphBuilder b, SymbolicShapes shapes, Function<String, String> shapeOf, Predicate<String> isInt64) {
        this.b = b;
        this.isInt64 = isInt64;
        this.shapes = shapes;
        this.shapeOf = shapeOf;
    }

    /**
     * A 1-D int64 tensor holding {@code entries}: a {@link Dim}, or a Long for a
     * literal entry (0 and -1 mean what Reshape makes of them). Null when a
     * symbol cannot be read anywhere.
     */
    String vector(List<Object> entries) {
        String cached = vectors.get(entries);
        if (cached != null) {
            return cached;
        }
        List<String> parts = new ArrayList<>();
        List<Long> run = new ArrayList<>();
        for (Object e : entries) {
            Long literal = e instanceof Long l ? l : ((Dim) e).isConstant() ? ((Dim) e).constant() : null;
            if (literal != null) {
                run.add(literal);
                continue;
            }
            String d = dim((Dim) e);
            if (d == null) {
                return null;
            }
            flush(run, parts);
            parts.add(d);
        }
        flush(run, parts);
        String v = parts.size() == 1 ? parts.get(0) : b.op("Concat", parts, Attrs.i("axis", 0));
        vectors.put(List.copyOf(entries), v);
        return v;
    }

    private void flush(List<Long> run, List<String> parts) {
        if (!run.isEmpty()) {
            parts.add(b.ints(run.stream().mapToLong(Long::longValue).toArray()));
            run.clear();
        }
    }

    /** A [1] tensor holding {@code d}, from its symbols' sources: products of symbols, scaled, summed. */
    private String dim(Dim d) {
        String whole = null;
        for (Map.Entry<List<String>, Long> term : d.terms().entrySet()) {
            String t = null;
            for (String s : term.getKey()) {
                String v = symbol(s);
                if (v == null) {
                    return null;
                }
                t = t == null ? v : b.op("Mul", t, v);
            }
            long c = term.getValue();
            if (t == null) {
                t = b.ints(c);
            } else if (c != 1) {
                t = b.op("Mul", t, b.ints(c));
            }
            whole = whole == null ? t : b.op("Add", whole, t);
        }
        return whole == null ? b.ints(0) : whole;
    }

    private String symbol(String name) {
        String cached = symbols.get(name);
        if (cached != null) {
            return cached;
        }
        SymbolicShapes.DimSource src = shapes.dimSource(name);
        SymbolicShapes.DimSource element = shapes.elementSource(name);
        if (element != null && isInt64.test(element.value()) && (src == null || !shapes.isGraphInput(src.value()))) {
            src = element;
        }
        if (src == null) {
            return null;
        }
        String from = src.element() ? src.value() : shapeOf.apply(src.value());
        List<Dim> e = src.element() ? shapes.elements(src.value()) : null;
        String v;
        if (src.element() && e != null && e.size() == 1 && shapes.rank(src.value()) == 1) {
            v = from;
        } else if (src.element() && shapes.rank(src.value()) == 0) {
            v = b.op("Unsqueeze", from, b.ints(0));
        } else {
            v = b.op("Gather", List.of(src.element() && shapes.rank(src.value()) > 1
                    ? b.op("Reshape", from, b.ints(-1)) : from, b.ints(src.index())), Attrs.i("axis", 0));
        }
        symbols.put(name, v);
        return v;
    }
}
