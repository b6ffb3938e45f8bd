package org.onnxlora.graph.shape;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.onnxlora.io.Tensors;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.TensorProto;
import org.onnxlora.proto.Onnx.TensorProto.DataType;
import org.onnxlora.proto.Onnx.TensorShapeProto;
import org.onnxlora.proto.Onnx.ValueInfoProto;

/**
 * Compile-time shapes of a graph's values, with symbolic dims, in the manner of
 * ONNX Runtime's symbolic shape inference: every dim is a {@link Dim} (a
 * constant, a named size from the graph inputs, or an expression of them), and
 * small integer tensors — the exporters' shape arithmetic, {@code Shape →
 * Gather → Concat → Reshape} — are tracked element by element, so a Reshape
 * whose target is computed at run time still gets a symbolic output shape.
 *
 * <p>Nothing is guessed: a dim that cannot be derived gets a fresh symbol of its
 * own (equal only to itself, as when one value flows on unchanged), and a value
 * whose rank cannot be derived has no shape at all. Graph inputs' unnamed dims
 * get names too. {@link #dimSource} and {@link #elementSource} say where each
 * symbol can be read at run time (a dim of a graph input is best: tiny, and alive anyway).
 *
 * <p>Values are added one node at a time ({@link #add(NodeProto)}), so a pass
 * that appends nodes (the backward) can keep the shapes of what it emits.
 */
public final class SymbolicShapes {
    /** Integer tensors up to this many elements have their elements tracked. */
    static final int MAX_TRACKED = 64;

    /** Where a symbol can be read at run time: dim {@code index} of {@code value}'s shape, or element {@code index}. */
    public record DimSource(String value, int index, boolean element) {}

    private final Map<String, List<Dim>> shapes = new HashMap<>();
    private final Map<String, List<Dim>> elements = new HashMap<>();
    private final Map<String, DimSource> sources = new LinkedHashMap<>();
    private final Map<String, DimSource> elementSources = new LinkedHashMap<>();
    private final java.util.Set<String> inputs = new java.util.HashSet<>();
    private int fresh;

    /** Shapes of {@code graph} from its declared input dims. */
    public static SymbolicShapes infer(GraphProto graph) {
        return infer(graph, Map.of());
    }

    /**
     * Shapes of {@code graph}, with {@code inputDims} naming the dims of some graph
     * inputs (input → one symbol name per axis, null to keep the declared dim). An
     * input contract such as "input_ids and attention_mask are both [batch,
     * source]" is stated this way; a name given a constant dim by any input's
     * declaration stands for that constant everywhere.
     */
    public static SymbolicShapes infer(GraphProto graph, Map<String, List<String>> inputDims) {
        SymbolicShapes s = new SymbolicShapes();
        Map<String, Long> fixed = new HashMap<>();
        for (ValueInfoProto v : graph.getInputList()) {
            List<String> names = inputDims.get(v.getName());
            TensorShapeProto declared = declaredShape(v);
            if (names == null || declared == null) {
                continue;
            }
            for (int i = 0; i < Math.min(names.size(), declared.getDimCount()); i++) {
                if (names.get(i) != null && declared.getDim(i).hasDimValue()) {
                    fixed.put(names.get(i), declared.getDim(i).getDimValue());
                }
            }
        }
        java.util.Set<String> overridable = new java.util.HashSet<>();
        graph.getInputList().forEach(v -> overridable.add(v.getName()));
        for (TensorProto t : graph.getInitializerList()) {
            if (!overridable.contains(t.getName())) {
                s.addConstant(t); // an initializer also declared as input is only a default: the input's declaration rules
            }
        }
        for (ValueInfoProto v : graph.getInputList()) {
            TensorShapeProto declared = declaredShape(v);
            if (declared == null) {
                continue;
            }
            s.inputs.add(v.getName());
            List<String> names = inputDims.getOrDefault(v.getName(), List.of());
            List<Dim> dims = new ArrayList<>();
            for (int i = 0; i < declared.getDimCount(); i++) {
                String name = i < names.size() ? names.get(i) : null;
                TensorShapeProto.Dimension d = declared.getDim(i);
                Dim dim;
                if (name != null) {
                    dim = fixed.containsKey(name) ? Dim.of(fixed.get(name)) : Dim.symbol(name);
                } else if (d.hasDimValue() && d.getDimValue() >= 0) {
                    dim = Dim.of(d.getDimValue());
                } else if (d.hasDimParam() && !d.getDimParam().isEmpty()) {
                    dim = Dim.symbol(d.getDimParam());
                } else {
                    dim = s.freshDim(v.getName(), i);
                }
                String sym = dim.asSymbol();
                if (sym != null) {
                    s.sources.putIfAbsent(sym, new DimSource(v.getName(), i, false));
                }
                dims.add(dim);
            }
            s.shapes.put(v.getName(), List.copyOf(dims));
        }
        for (NodeProto n : graph.getNodeList()) {
            s.add(n);
        }
        return s;
    }

    private static TensorShapeProto declaredShape(ValueInfoProto v) {
        return v.hasType() && v.getType().hasTensorType() && v.getType().getTensorType().hasShape()
                ? v.getType().getTensorType().getShape() : null;
    }

    /** Records a constant tensor (an initializer): its dims, and its elements if it is a small integer tensor. */
    public void addConstant(TensorProto t) {
        List<Dim> dims = new ArrayList<>();
        for (long d : t.getDimsList()) {
            dims.add(Dim.of(d));
        }
        shapes.put(t.getName(), List.copyOf(dims));
        List<Dim> values = constantElements(t);
        if (values != null) {
            elements.put(t.getName(), values);
        }
    }

    static List<Dim> constantElements(TensorProto t) {
        int dt = t.getDataType();
        boolean integral = dt == DataType.INT64_VALUE || dt == DataType.INT32_VALUE;
        if (!integral || Tensors.elementCount(t) > MAX_TRACKED || t.hasDataLocation()
                && t.getDataLocation() == TensorProto.DataLocation.EXTERNAL && !t.hasRawData()) {
            return null;
        }
        List<Dim> values = new ArrayList<>();
        for (long v : Tensors.toLongs(t)) {
            values.add(Dim.of(v));
        }
        return List.copyOf(values);
    }

    /**
     * Declares that {@code value}, produced outside the graph (a gradient fed in, say), has the shape of
     * {@code like}; a shape already inferred for it is kept.
     */
    public void assumeSameShape(String value, String like) {
        List<Dim> s = shapes.get(like);
        if (s != null && !shapes.containsKey(value)) {
            setShape(value, s);
        }
    }

    /** Infers the outputs of one node from what is known of its inputs. */
    public void add(NodeProto n) {
        OpShapes.apply(n, this);
    }

    /** The shape of {@code value}, or null when not even its rank is known. */
    public List<Dim> shape(String value) {
        return shapes.get(value);
    }

    public int rank(String value) {
        List<Dim> s = shapes.get(value);
        return s == null ? -1 : s.size();
    }

    /** The dims if every one is a constant, else null. */
    public long[] constantDims(String value) {
        List<Dim> s = shapes.get(value);
        if (s == null) {
            return null;
        }
        long[] d = new long[s.size()];
        for (int i = 0; i < d.length; i++) {
            if (!s.get(i).isConstant()) {
                return null;
            }
            d[i] = s.get(i).constant();
        }
        return d;
    }

    /** Whether both values provably have the same shape (same rank, equal dims). */
    public boolean sameShape(String a, String b) {
        if (a.equals(b)) {
            return true;
        }
        List<Dim> sa = shapes.get(a);
        return sa != null && sa.equals(shapes.get(b));
    }

    /** The elements of a small integer tensor (row-major; null entries unknown), or null if not tracked. */
    public List<Dim> elements(String value) {
        return elements.get(value);
    }

    /** A value whose shape holds {@code symbol} (a graph input's where there is one), or null. */
    public DimSource dimSource(String symbol) {
        return sources.get(symbol);
    }

    /** A small integer tensor holding {@code symbol} as an element (e.g. the output of a Shape), or null. */
    public DimSource elementSource(String symbol) {
        return elementSources.get(symbol);
    }

    public boolean isGraphInput(String value) {
        return inputs.contains(value);
    }

    /** Every value with a known shape, for inspection and tests. */
    public Map<String, List<Dim>> shapes() {
        return Collections.unmodifiableMap(shapes);
    }

    /** Whether {@code d} names a size the inference made up (an unknown it could only name). */
    public static boolean isFresh(String symbol) {
        return symbol.startsWith("?");
    }

    // ---- used by the op rules ----

    void setShape(String value, List<Dim> dims) {
        if (value.isEmpty() || dims == null) {
            return;
        }
        List<Dim> d = List.copyOf(dims);
        shapes.put(value, d);
        for (int i = 0; i < d.size(); i++) {
            String sym = d.get(i).asSymbol();
            if (sym != null) {
                sources.putIfAbsent(sym, new DimSource(value, i, false));
            }
        }
    }

    void setElements(String value, List<Dim> values) {
        if (value.isEmpty() || values == null || values.size() > MAX_TRACKED) {
            return;
        }
        List<Dim> v = Collections.unmodifiableList(new ArrayList<>(values));
        elements.put(value, v);
        for (int i = 0; i < v.size(); i++) {
            String sym = v.get(i) == null ? null : v.get(i).asSymbol();
            if (sym != null) {
                elementSources.putIfAbsent(sym, new DimSource(value, i, true));
            }
        }
    }

    /** A new symbol for a dim nothing more is known about; readable from {@code value}'s dim {@code axis}. */
    Dim freshDim(String value, int axis) {
        String name = "?" + (fresh++);
        sources.put(name, new DimSource(value, axis, false));
        return Dim.symbol(name);
    }
}
