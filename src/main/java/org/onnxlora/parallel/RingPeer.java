package org.onnxlora.parallel;

import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * What a member publishes at the rendezvous: where it listens, which model it trains, and a
 * random id that its connection must present (a stale connection from an earlier attempt of the
 * job is refused).
 */
record RingPeer(int rank, String host, int port, String fingerprint, long nonce) {
    private static final String PREFIX = "onnx-lora-ring/1";

    String message() {
        return PREFIX + " " + host + " " + port + " " + Long.toHexString(nonce) + " " + fingerprint;
    }

    String where() {
        return "rank " + rank + " (" + host + ":" + port + ")";
    }

    static RingPeer parse(int rank, String message) {
        String[] f = message == null ? new String[0] : message.split(" ", 5);
        if (f.length != 5 || !f[0].equals(PREFIX)) {
            throw new OnnxLoraException(ErrorCode.COLLECTIVE,
                    "rank " + rank + " published no all-reduce address (got \"" + message + "\")");
        }
        try {
            return new RingPeer(rank, f[1], Integer.parseInt(f[2]), f[4], Long.parseUnsignedLong(f[3], 16));
        } catch (NumberFormatException e) {
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "rank " + rank + " published a malformed address \"" + message + "\"");
        }
    }

    /** All members must train the same model: one line naming the first that differs. */
    static void checkSameModel(List<RingPeer> peers) {
        RingPeer first = peers.get(0);
        for (RingPeer p : peers) {
            if (!p.fingerprint.equals(first.fingerprint)) {
                throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "workers were given different models: rank "
                        + p.rank + " has " + shortHash(p.fingerprint) + ", rank 0 has " + shortHash(first.fingerprint));
            }
        }
    }

    private static String shortHash(String h) {
        return h.length() > 16 ? h.substring(0, 16) + "…" : h;
    }
}
