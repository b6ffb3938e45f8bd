package org.onnxlora.interop;

import com.google.flatbuffers.FlatBufferBuilder;
import com.google.flatbuffers.Table;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.AtomicFiles;
import org.onnxlora.io.IoErrors;

/**
 * ONNX Runtime's LoRA adapter file ({@code .onnx_adapter}), a FlatBuffer with file
 * identifier {@code TORT} (schema {@code onnxruntime/lora/adapter_format/adapter_schema.fbs}):
 *
 * <pre>
 *   table Parameter { name:string; dims:[int64]; data_type:TensorDataType (int32, ONNX's enum);
 *                     raw_data:[uint8] (force_align: 8); }
 *   table Adapter   { format_version:int (1); adapter_version:int; model_version:int; parameters:[Parameter]; }
 * </pre>
 *
 * ORT feeds every parameter, by name, to the session it is activated for
 * ({@code RunOptions.addActiveLoraAdapter}), so each name must be an input or an
 * overridable initializer of that model, with the same dtype.
 */
public final class OrtAdapterFile {
    public static final String IDENTIFIER = "TORT";
    public static final int FORMAT_VERSION = 1;
    public static final String EXTENSION = ".onnx_adapter";

    private OrtAdapterFile() {}

    /** One tensor: ONNX element type and little-endian raw bytes. */
    public record Parameter(String name, long[] dims, int dataType, byte[] rawData) {}

    public static byte[] encode(List<Parameter> params, int adapterVersion, int modelVersion) {
        long bytes = params.stream().mapToLong(p -> p.rawData().length + 8L * p.dims().length + p.name().length() + 64)
                .sum();
        FlatBufferBuilder fb = new FlatBufferBuilder(Math.toIntExact(Math.min(bytes + 1024, Integer.MAX_VALUE - 8)));
        int[] offsets = new int[params.size()];
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            int name = fb.createString(p.name());
            fb.startVector(8, p.dims().length, 8);
            for (int d = p.dims().length - 1; d >= 0; d--) {
                fb.addLong(p.dims()[d]);
            }
            int dims = fb.endVector();
            byte[] raw = p.rawData();
            fb.startVector(1, raw.length, 8); // force_align: 8
            for (int b = raw.length - 1; b >= 0; b--) {
                fb.putByte(raw[b]);
            }
            int data = fb.endVector();
            fb.startTable(4);
            fb.addOffset(3, data, 0);
            fb.addOffset(1, dims, 0);
            fb.addOffset(0, name, 0);
            fb.addInt(2, p.dataType(), 0);
            offsets[i] = fb.endTable();
        }
        int vec = fb.createVectorOfTables(offsets);
        fb.startTable(4);
        fb.addOffset(3, vec, 0);
        fb.addInt(2, modelVersion, 0);
        fb.addInt(1, adapterVersion, 0);
        fb.addInt(0, FORMAT_VERSION, 0);
        int root = fb.endTable();
        fb.finish(root, IDENTIFIER);
        return fb.sizedByteArray();
    }

    public static void write(Path file, List<Parameter> params, int adapterVersion, int modelVersion) {
        byte[] bytes = encode(params, adapterVersion, modelVersion);
        try {
            AtomicFiles.write(file, out -> {
                out.write(bytes);
                return null;
            });
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /** The parameters of an adapter file (for inspection and tests). */
    public static List<Parameter> read(Path file) {
        ByteBuffer bb;
        try {
            bb = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.IO, "cannot read " + file + ": " + IoErrors.reason(e), e);
        }
        if (bb.capacity() < 8 || !AdapterTable.hasIdentifier(bb)) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, file + " is not an ONNX Runtime adapter file"
                    + " (no '" + IDENTIFIER + "' identifier)");
        }
        AdapterTable a = new AdapterTable(bb);
        if (a.formatVersion() != FORMAT_VERSION) {
            throw new OnnxLoraException(ErrorCode.UNSUPPORTED_MODEL, file + " has adapter format version "
                    + a.formatVersion() + "; only " + FORMAT_VERSION + " is known");
        }
        List<Parameter> out = new ArrayList<>();
        for (int i = 0; i < a.parameterCount(); i++) {
            out.add(a.parameter(i));
        }
        return out;
    }

    /** Hand-written accessors for the two tables (what flatc would generate). */
    private static final class AdapterTable extends Table {
        AdapterTable(ByteBuffer bb) {
            __reset(bb.getInt(bb.position()) + bb.position(), bb);
        }

        static boolean hasIdentifier(ByteBuffer bb) {
            return __has_identifier(bb, IDENTIFIER);
        }

        int formatVersion() {
            int o = __offset(4);
            return o != 0 ? bb.getInt(o + bb_pos) : 0;
        }

        int parameterCount() {
            int o = __offset(10);
            return o != 0 ? __vector_len(o) : 0;
        }

        Parameter parameter(int j) {
            int o = __offset(10);
            ParameterTable p = new ParameterTable(__indirect(__vector(o) + j * 4), bb);
            return p.toParameter();
        }
    }

    private static final class ParameterTable extends Table {
        ParameterTable(int pos, ByteBuffer bb) {
            __reset(pos, bb);
        }

        Parameter toParameter() {
            int o = __offset(4);
            String name = o != 0 ? __string(o + bb_pos) : "";
            o = __offset(6);
            long[] dims = new long[o != 0 ? __vector_len(o) : 0];
            for (int i = 0; i < dims.length; i++) {
                dims[i] = bb.getLong(__vector(o) + i * 8);
            }
            o = __offset(8);
            int type = o != 0 ? bb.getInt(o + bb_pos) : 0;
            o = __offset(10);
            byte[] raw = new byte[o != 0 ? __vector_len(o) : 0];
            if (raw.length > 0) {
                int start = __vector(o);
                for (int i = 0; i < raw.length; i++) {
                    raw[i] = bb.get(start + i);
                }
            }
            return new Parameter(name, dims, type, raw);
        }
    }
}
