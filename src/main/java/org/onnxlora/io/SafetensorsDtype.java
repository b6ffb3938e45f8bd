package org.onnxlora.io;

/**
 * The element types a safetensors header may name, spelled as in the format
 * ({@code "F32"}, {@code "BF16"}, ...). Sizes are in bits because the format
 * also has sub-byte float types (F4, F6): a tensor's byte size is
 * {@code elements * bits / 8} and must come out whole.
 */
public enum SafetensorsDtype {
    BOOL(8), U8(8), I8(8), U16(16), I16(16), U32(32), I32(32), U64(64), I64(64),
    F16(16), BF16(16), F32(32), F64(64), C64(64),
    F8_E5M2(8), F8_E4M3(8), F8_E8M0(8), F4(4), F6_E2M3(6), F6_E3M2(6);

    private final int bits;

    SafetensorsDtype(int bits) {
        this.bits = bits;
    }

    public int bits() {
        return bits;
    }

    /** Bytes per element; 0 for the sub-byte types, whose elements share bytes. */
    public int byteSize() {
        return bits % 8 == 0 ? bits / 8 : 0;
    }

    /** True for F16, BF16, F32 and F64, the types {@link SafetensorsFile#floats} can read. */
    public boolean isFloat() {
        return this == F16 || this == BF16 || this == F32 || this == F64;
    }

    /** True for the integer types {@link SafetensorsFile#longs} widens exactly (not U64, which may not fit). */
    public boolean isExactLong() {
        return switch (this) {
            case BOOL, U8, I8, U16, I16, U32, I32, I64 -> true;
            default -> false;
        };
    }

    /** Looks up a header dtype string; null if the format has no such type. */
    public static SafetensorsDtype parse(String s) {
        try {
            return valueOf(s);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }
}
