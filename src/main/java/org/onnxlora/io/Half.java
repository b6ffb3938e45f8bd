package org.onnxlora.io;

/** IEEE 754 binary16 and bfloat16 conversions (Java 17 has no Float.float16ToFloat). */
public final class Half {
    private Half() {}

    public static float toFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal: value = mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    /** Round-to-nearest-even conversion, as numpy and PyTorch do. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) { // Inf or NaN
            return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0));
        }
        if (abs >= 0x477ff000) { // rounds to >= 65520: overflow to Inf
            return (short) (sign | 0x7c00);
        }
        if (abs < 0x38800000) { // below the smallest normal half: subnormal or zero
            float a = Float.intBitsToFloat(abs);
            int m = Math.round(a * 0x1p24f); // Math.round is half-up; fix ties to even
            float exact = a * 0x1p24f;
            if (exact - Math.floor(exact) == 0.5 && (m & 1) == 1) {
                m--;
            }
            return (short) (sign | m);
        }
        int exp = ((abs >>> 23) - 112) << 10;
        int mant = abs & 0x7fffff;
        int h = exp | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1)) {
            h++;
        }
        return (short) (sign | h);
    }

    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
