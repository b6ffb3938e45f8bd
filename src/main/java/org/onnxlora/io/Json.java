package org.onnxlora.io;

import com.google.gson.GsonBuilder;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;

/**
 * The one way onnx-lora writes JSON. JSON has no NaN or Infinity, and Gson's default is to throw
 * ("NaN is not a valid double") halfway through writing a summary or checkpoint. A diverged loss
 * or a model whose logits are NaN is worth reporting, not crashing on, so every writer uses the
 * same convention: a non-finite number is written as the string {@code "NaN"}, {@code "Infinity"}
 * or {@code "-Infinity"} (what Python's {@code float()} and JavaScript's {@code Number()} parse),
 * and read back as the number.
 */
public final class Json {
    private Json() {}

    /** A GsonBuilder with the non-finite convention installed; add pretty printing etc. as needed. */
    public static GsonBuilder builder() {
        return new GsonBuilder()
                .registerTypeAdapter(Double.class, DOUBLES)
                .registerTypeAdapter(double.class, DOUBLES)
                .registerTypeAdapter(Float.class, FLOATS)
                .registerTypeAdapter(float.class, FLOATS);
    }

    /** The JSON text of a non-finite value, or null for a finite one. */
    static String nonFinite(double v) {
        if (Double.isNaN(v)) {
            return "NaN";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "Infinity" : "-Infinity";
        }
        return null;
    }

    private static double read(JsonReader in) throws IOException {
        if (in.peek() == JsonToken.STRING) {
            String s = in.nextString();
            return switch (s) {
                case "NaN" -> Double.NaN;
                case "Infinity" -> Double.POSITIVE_INFINITY;
                case "-Infinity" -> Double.NEGATIVE_INFINITY;
                default -> {
                    try {
                        yield Double.parseDouble(s);
                    } catch (NumberFormatException e) {
                        throw new IOException("expected a number, found the string '" + s + "' at " + in.getPath());
                    }
                }
            };
        }
        return in.nextDouble();
    }

    private static final TypeAdapter<Double> DOUBLES = new TypeAdapter<Double>() {
        @Override
        public void write(JsonWriter out, Double v) throws IOException {
            if (v == null) {
                out.nullValue();
            } else if (nonFinite(v) != null) {
                out.value(nonFinite(v));
            } else {
                out.value(v.doubleValue());
            }
        }

        @Override
        public Double read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return null;
            }
            return Json.read(in);
        }
    }.nullSafe();

    private static final TypeAdapter<Float> FLOATS = new TypeAdapter<Float>() {
        @Override
        public void write(JsonWriter out, Float v) throws IOException {
            if (v == null) {
                out.nullValue();
            } else if (nonFinite(v) != null) {
                out.value(nonFinite(v));
            } else {
                out.value(v); // as Gson does: the float's own shortest digits, not the widened double's
            }
        }

        @Override
        public Float read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return null;
            }
            return (float) Json.read(in);
        }
    }.nullSafe();
}
