package org.onnxlora.parallel;

import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * How ranks stop together on an error that retrying cannot fix (the input's fault: models that
 * differ, a device missing on one machine, a checkpoint of another run). The rank that meets it
 * still takes part in the next agreement, which tells every rank who failed and why, and every rank
 * then throws that error. So no rank waits for a peer that left, and a scheduler that restarts
 * failed groups (a Spark barrier stage) sees the same verdict from every rank instead of a lost
 * peer worth retrying.
 */
public final class StopVerdict {
    /** Longest message that travels through the ring (UTF-16 units, one per float: exact below 2^24). */
    static final int MAX_CHARS = 1024;
    private static final String FAILED = "onnx-lora-ring/1-failed ";

    private StopVerdict() {}

    /**
     * Whether {@code e} is the input's fault, which a retry on the same input meets again (a run
     * folder refused as the user's, {@link ErrorCode#OUTPUT_EXISTS}, among them); file system
     * errors ({@link ErrorCode#IO}) and lost peers ({@link ErrorCode#COLLECTIVE}) are not: they may
     * pass, and a restarted group resumes from the last checkpoint.
     */
    public static boolean isVerdict(OnnxLoraException e) {
        return e.code() != ErrorCode.IO && e.code() != ErrorCode.COLLECTIVE;
    }

    /** What a rank that failed before the rendezvous publishes there instead of its address. */
    static String message(OnnxLoraException e) {
        return FAILED + e.code().name() + " " + e.getMessage();
    }

    /** Throws, on every rank alike, the error of the first rank that published one at the rendezvous. */
    static void throwFirstFailure(List<String> messages, int rank, OnnxLoraException own) {
        for (int r = 0; r < messages.size(); r++) {
            String m = messages.get(r);
            if (m != null && m.startsWith(FAILED)) {
                if (r == rank && own != null) {
                    throw own;
                }
                String rest = m.substring(FAILED.length());
                int space = rest.indexOf(' ');
                ErrorCode code;
                try {
                    code = ErrorCode.valueOf(space < 0 ? rest : rest.substring(0, space));
                } catch (IllegalArgumentException e) {
                    code = ErrorCode.INTERNAL;
                }
                throw new OnnxLoraException(code, space < 0 ? "rank " + r + " failed" : rest.substring(space + 1));
            }
        }
    }

    /**
     * One agreement over {@code group}: each rank says whether it failed ({@code own}, null if not);
     * if any did, the first failing rank's message reaches all and every rank throws its error (that
     * rank its own exception). Two small sums when a rank failed, one otherwise.
     */
    public static void agree(AllReduce group, OnnxLoraException own) {
        int n = group.size();
        double[] codes = new double[n];
        if (own != null) {
            codes[group.rank()] = own.code().ordinal() + 1;
        }
        group.sum(new float[0], codes);
        int first = -1;
        for (int r = 0; r < n && first < 0; r++) {
            if (codes[r] != 0) {
                first = r;
            }
        }
        if (first < 0) {
            return;
        }
        ErrorCode code = ErrorCode.values()[(int) codes[first] - 1];
        float[] text = new float[MAX_CHARS];
        double[] length = {0};
        if (group.rank() == first) {
            String m = String.valueOf(own.getMessage());
            int len = Math.min(m.length(), MAX_CHARS);
            for (int i = 0; i < len; i++) {
                text[i] = m.charAt(i);
            }
            length[0] = len;
        }
        group.sum(text, length);
        if (group.rank() == first) {
            throw own;
        }
        char[] chars = new char[(int) length[0]];
        for (int i = 0; i < chars.length; i++) {
            chars[i] = (char) text[i];
        }
        throw new OnnxLoraException(code, new String(chars));
    }
}
