package org.onnxlora.fuzz;

import com.google.protobuf.ByteString;
import java.util.SplittableRandom;
import org.onnxlora.lora.LoraMetadata;
import org.onnxlora.proto.Onnx.AttributeProto;
import org.onnxlora.proto.Onnx.GraphProto;
import org.onnxlora.proto.Onnx.ModelProto;
import org.onnxlora.proto.Onnx.NodeProto;
import org.onnxlora.proto.Onnx.StringStringEntryProto;
import org.onnxlora.proto.Onnx.TensorProto;

/**
 * Structure-aware mutations of an ONNX model: the claims a file makes that bit flips rarely
 * reach (dims, data types, external-data entries, edges, subgraphs, metadata), each still a
 * well-formed protobuf so the mutation tests the code after the parser.
 */
final class ModelMutations {
    private ModelMutations() {}

    private static final long[] DIMS = {0, 1, 2, 3, 4, 8, 16, -1, 1L << 31, 1L << 32, 1L << 40, Long.MAX_VALUE};
    private static final String[] LOCATIONS = {"model.onnx.data", "../outside.data", "/etc/hostname", "", "link.data",
            "sub/../model.onnx.data", "missing.data", ".", "model.onnx"};
    private static final String[] NUMBERS = {"0", "8", "-1", "12abc", "", "1024", "99999999999999999999",
            "9223372036854775807", "4096", " 16"};

    static ModelProto mutate(ModelProto seed, SplittableRandom r) {
        ModelProto.Builder m = seed.toBuilder();
        int rounds = 1 + r.nextInt(3);
        for (int k = 0; k < rounds; k++) {
            GraphProto.Builder g = m.getGraphBuilder();
            switch (r.nextInt(10)) {
                case 0, 1 -> dims(g, r);
                case 2 -> dataType(g, r);
                case 3 -> external(g, r);
                case 4 -> payload(g, r);
                case 5 -> edge(g, r);
                case 6 -> subgraph(g, r);
                case 7 -> metadata(m, r);
                case 8 -> { // drop a node or an initializer
                    if (r.nextBoolean() && g.getNodeCount() > 0) {
                        g.removeNode(r.nextInt(g.getNodeCount()));
                    } else if (g.getInitializerCount() > 0) {
                        g.removeInitializer(r.nextInt(g.getInitializerCount()));
                    }
                }
                default -> { // header fields
                    switch (r.nextInt(3)) {
                        case 0 -> m.setIrVersion(r.nextInt(12) - 1);
                        case 1 -> m.clearOpsetImport();
                        default -> m.getOpsetImportBuilderList().forEach(o -> o.setVersion(r.nextInt(30) - 2));
                    }
                }
            }
        }
        return m.build();
    }

    private static TensorProto.Builder anyInit(GraphProto.Builder g, SplittableRandom r) {
        return g.getInitializerCount() == 0 ? null : g.getInitializerBuilder(r.nextInt(g.getInitializerCount()));
    }

    private static void dims(GraphProto.Builder g, SplittableRandom r) {
        TensorProto.Builder t = anyInit(g, r);
        if (t == null) {
            return;
        }
        if (r.nextBoolean() && t.getDimsCount() > 0) {
            t.setDims(r.nextInt(t.getDimsCount()), DIMS[r.nextInt(DIMS.length)]);
        } else {
            t.clearDims();
            for (int i = r.nextInt(5); i > 0; i--) {
                t.addDims(DIMS[r.nextInt(DIMS.length)]);
            }
        }
    }

    private static void dataType(GraphProto.Builder g, SplittableRandom r) {
        TensorProto.Builder t = anyInit(g, r);
        if (t != null) {
            t.setDataType(r.nextInt(32) - 2);
        }
    }

    private static void external(GraphProto.Builder g, SplittableRandom r) {
        TensorProto.Builder t = anyInit(g, r);
        if (t == null) {
            return;
        }
        t.setDataLocation(TensorProto.DataLocation.EXTERNAL).clearExternalData();
        if (r.nextInt(4) != 0) {
            t.clearRawData();
        }
        String[] keys = {"location", "offset", "length", "checksum"};
        for (int i = r.nextInt(5); i > 0; i--) {
            String key = keys[r.nextInt(keys.length)];
            String v = key.equals("location") ? LOCATIONS[r.nextInt(LOCATIONS.length)] : NUMBERS[r.nextInt(NUMBERS.length)];
            t.addExternalData(StringStringEntryProto.newBuilder().setKey(key).setValue(v));
        }
    }

    private static void payload(GraphProto.Builder g, SplittableRandom r) {
        TensorProto.Builder t = anyInit(g, r);
        if (t == null) {
            return;
        }
        switch (r.nextInt(4)) {
            case 0 -> t.clearRawData();
            case 1 -> t.setRawData(ByteString.copyFrom(new byte[r.nextInt(64)]));
            case 2 -> {
                t.clearRawData();
                for (int i = r.nextInt(8); i > 0; i--) {
                    t.addFloatData((float) r.nextGaussian());
                }
            }
            default -> {
                t.clearRawData();
                for (int i = r.nextInt(8); i > 0; i--) {
                    t.addInt64Data(r.nextLong());
                }
            }
        }
    }

    private static void edge(GraphProto.Builder g, SplittableRandom r) {
        if (g.getNodeCount() == 0) {
            return;
        }
        NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
        String[] names = {"", "nobody", n.getInputCount() > 0 ? n.getInput(0) : "x",
                g.getNodeCount() > 1 ? g.getNode(r.nextInt(g.getNodeCount())).getOutput(0) : "y"};
        String v = names[r.nextInt(names.length)];
        switch (r.nextInt(4)) {
            case 0 -> {
                if (n.getInputCount() > 0) {
                    n.setInput(r.nextInt(n.getInputCount()), v);
                }
            }
            case 1 -> {
                if (n.getOutputCount() > 0) {
                    n.setOutput(r.nextInt(n.getOutputCount()), v);
                }
            }
            case 2 -> n.setOpType(new String[] {"MatMul", "Add", "Mul", "Gemm", "Transpose", "", "Nope"}[r.nextInt(7)]);
            default -> n.clearInput();
        }
    }

    private static void subgraph(GraphProto.Builder g, SplittableRandom r) {
        if (g.getNodeCount() == 0) {
            return;
        }
        NodeProto.Builder n = g.getNodeBuilder(r.nextInt(g.getNodeCount()));
        GraphProto.Builder body = GraphProto.newBuilder().setName("body")
                .addNode(NodeProto.newBuilder().setOpType("Identity")
                        .addInput(r.nextBoolean() ? n.getInputCount() > 0 ? n.getInput(0) : "x" : "nobody")
                        .addOutput("body_out"));
        n.addAttribute(AttributeProto.newBuilder().setName("then_branch").setType(AttributeProto.AttributeType.GRAPH)
                .setG(body));
    }

    private static void metadata(ModelProto.Builder m, SplittableRandom r) {
        ModelProto built = m.build();
        String json = built.getMetadataPropsList().stream().filter(e -> e.getKey().equals(LoraMetadata.KEY))
                .map(StringStringEntryProto::getValue).findFirst().orElse("{}");
        ModelProto edited = LoraMetadata.withEntry(built, LoraMetadata.KEY, Mutate.text(json, r, 4));
        m.clearMetadataProps().addAllMetadataProps(edited.getMetadataPropsList());
    }

    /** Random protobuf wire format: fields of every wire type, nested, with lengths that lie sometimes. */
    static byte[] randomProtobuf(SplittableRandom r, int depth) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int fields = r.nextInt(12);
        for (int i = 0; i < fields; i++) {
            int field = r.nextInt(4) == 0 ? 1 + r.nextInt(1000) : 1 + r.nextInt(20);
            int wire = new int[] {0, 1, 2, 2, 5, 3}[r.nextInt(6)];
            varint(out, ((long) field << 3) | wire);
            switch (wire) {
                case 0 -> varint(out, r.nextInt(3) == 0 ? r.nextLong() : r.nextInt(40));
                case 1 -> out.writeBytes(new byte[8]);
                case 5 -> out.writeBytes(new byte[4]);
                case 2 -> {
                    byte[] body = depth > 0 && r.nextBoolean() ? randomProtobuf(r, depth - 1) : randomBytes(r);
                    long len = r.nextInt(8) == 0 ? body.length + r.nextInt(100) - 50 : body.length;
                    varint(out, len);
                    out.writeBytes(body);
                }
                default -> { } // group start: a wire type protobuf-java must refuse or skip
            }
        }
        return out.toByteArray();
    }

    private static byte[] randomBytes(SplittableRandom r) {
        byte[] b = new byte[r.nextInt(24)];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) r.nextInt(256);
        }
        return b;
    }

    private static void varint(java.io.ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }
}
