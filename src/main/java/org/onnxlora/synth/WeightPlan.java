package org.onnxlora.synth;

import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.onnxlora.io.Half;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * The initializers of a synthetic model: declared while the graph is emitted, filled
 * all at once at the end.
 *
 * <p>Filling is split into fixed-size chunks, each with its own random stream derived
 * from (seed, tensor name, chunk index), so the bytes are the same whatever the thread
 * count and the work spreads over every core even when one tensor (the shared
 * embedding) is a quarter of the model. Each payload is written once into its own
 * {@code byte[]} and wrapped, never copied: the heap holds one copy of the weights.
 */
final class WeightPlan {
    /** HF's {@code init_std} for BART. */
    static final double STD = 0.02;
    private static final int CHUNK = 1 << 20;

    /**
     * How a tensor is filled. Biases and layer-norm parameters are random too (not HF's
     * 0 and 1): a trained model's are never exact, and exact values would hide a rewrite
     * that drops or swaps them.
     */
    enum Fill {
        /** N(0, STD). */
        NORMAL(0.0),
        /** N(1, STD): layer-norm scales. */
        NEAR_ONE(1.0);

        final double mean;

        Fill(double mean) {
            this.mean = mean;
        }
    }

    private record Spec(String name, long[] dims, Fill fill, String transposeOf) {
        long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }
    }

    private final List<Spec> specs = new ArrayList<>();

    /** Declares a random tensor; returns its name. */
    String random(String name, Fill fill, long... dims) {
        specs.add(new Spec(name, dims.clone(), fill, null));
        return name;
    }

    /** Declares the transpose of an earlier 2-D tensor (the exporter's copy of a tied weight). */
    String transposeOf(String name, String source) {
        Spec src = find(source);
        specs.add(new Spec(name, new long[] {src.dims[1], src.dims[0]}, null, source));
        return name;
    }

    /** Gives a declared tensor its final name (anonymous exporter names are numbered at the end). */
    void rename(String from, String to) {
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            if (s.name.equals(from)) {
                specs.set(i, new Spec(to, s.dims, s.fill, s.transposeOf));
            }
            if (from.equals(s.transposeOf)) {
                specs.set(i, new Spec(specs.get(i).name, s.dims, s.fill, to));
            }
        }
    }

    List<String> names() {
        return specs.stream().map(Spec::name).toList();
    }

    private Spec find(String name) {
        return specs.stream().filter(s -> s.name.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no tensor named " + name));
    }

    /** The filled tensors, in declaration order. */
    List<TensorProto> generate(long seed, BartShape.Dtype dtype) {
        int esize = dtype.bytes();
        Map<String, byte[]> data = new HashMap<>();
        List<long[]> jobs = new ArrayList<>(); // {spec index, first element, element count}
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            long n = s.elements();
            if (n * esize > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tensor " + s.name + " is larger than 2 GB");
            }
            data.put(s.name, new byte[(int) (n * esize)]);
            if (s.transposeOf == null) {
                for (long start = 0; start < n; start += CHUNK) {
                    jobs.add(new long[] {i, start, Math.min(CHUNK, n - start)});
                }
            }
        }
        IntStream.range(0, jobs.size()).parallel().forEach(j -> {
            long[] job = jobs.get(j);
            Spec s = specs.get((int) job[0]);
            fill(data.get(s.name), s, seed, (int) job[1], (int) job[2], dtype);
        });
        specs.stream().filter(s -> s.transposeOf != null).parallel().forEach(s -> {
            Spec src = find(s.transposeOf);
            transpose(data.get(src.name), data.get(s.name), (int) src.dims[0], (int) src.dims[1], esize);
        });
        List<TensorProto> out = new ArrayList<>(specs.size());
        for (Spec s : specs) {
            TensorProto.Builder t = TensorProto.newBuilder().setName(s.name).setDataType(dtype.onnxType());
            for (long d : s.dims) {
                t.addDims(d);
            }
            out.add(t.setRawData(UnsafeByteOperations.unsafeWrap(data.remove(s.name))).build());
        }
        return out;
    }

    private static void fill(byte[] dst, Spec s, long seed, int start, int count, BartShape.Dtype dtype) {
        SplittableRandom rnd = new SplittableRandom(mix(seed, s.name.hashCode(), start / CHUNK));
        ByteBuffer b = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
        double mean = s.fill.mean;
        if (dtype == BartShape.Dtype.FLOAT16) {
            for (int k = 0; k < count; k++) {
                b.putShort((start + k) * 2, Half.fromFloat((float) (mean + STD * rnd.nextGaussian())));
            }
        } else {
            for (int k = 0; k < count; k++) {
                b.putFloat((start + k) * 4, (float) (mean + STD * rnd.nextGaussian()));
            }
        }
    }

    /** Cache-blocked transpose of a row-major [rows, cols] matrix of 2- or 4-byte elements. */
    private static void transpose(byte[] src, byte[] dst, int rows, int cols, int esize) {
        ByteBuffer in = ByteBuffer.wrap(src).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer out = ByteBuffer.wrap(dst).order(ByteOrder.LITTLE_ENDIAN);
        final int tile = 64;
        for (int r0 = 0; r0 < rows; r0 += tile) {
            for (int c0 = 0; c0 < cols; c0 += tile) {
                int rEnd = Math.min(rows, r0 + tile);
                int cEnd = Math.min(cols, c0 + tile);
                for (int r = r0; r < rEnd; r++) {
                    for (int c = c0; c < cEnd; c++) {
                        int from = (r * cols + c) * esize;
                        int to = (c * rows + r) * esize;
                        if (esize == 4) {
                            out.putInt(to, in.getInt(from));
                        } else {
                            out.putShort(to, in.getShort(from));
                        }
                    }
                }
            }
        }
    }

    /** SplitMix64 finaliser over the three inputs, so nearby seeds and chunk numbers give unrelated streams. */
    private static long mix(long seed, int nameHash, int chunk) {
        long z = seed * 0x9E3779B97F4A7C15L + nameHash;
        z = z * 0xBF58476D1CE4E5B9L + chunk;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
