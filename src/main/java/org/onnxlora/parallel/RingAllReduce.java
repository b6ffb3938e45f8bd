package org.onnxlora.parallel;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.ServerSocketChannel;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;

/**
 * All-reduce among processes over TCP: the classic ring (reduce-scatter, then all-gather), so each
 * member sends and receives {@code 2 (N-1)/N} of the payload per call whatever N is. The payload is
 * cut into N contiguous chunks; chunk c is summed along the ring starting at rank c + 1 and ending at
 * its owner, rank c, always in that order, so the result does not depend on timing, and the
 * all-gather copies each owner's sums to everybody: all members hold bit-identical values. Counts
 * travel as doubles in each chunk's header and every member takes chunk 0's totals.
 *
 * <p>Wire format: direct buffers, little-endian; a chunk message is a header (call number, chunk
 * index, payload length, number of counts, the counts) followed by the chunk's floats. A header that
 * does not match what this member expects (another payload length: workers with different adapters)
 * fails the call instead of mixing unrelated numbers.
 */
public final class RingAllReduce implements AllReduce {
    private static final int FIXED_HEADER = 16;

    private final int rank;
    private final int size;
    private final RingLinks links;
    private ByteBuffer sendBuf;
    private ByteBuffer recvBuf;
    private float[] scratch = new float[0];
    private int calls;
    private String broken;

    private RingAllReduce(int rank, int size, RingLinks links) {
        this.rank = rank;
        this.size = size;
        this.links = links;
    }

    /**
     * Joins the group: listens on {@code options.bindHost()}, publishes the address and
     * {@code fingerprint} through {@code exchange} (once), refuses members whose fingerprint differs
     * from rank 0's, and connects the ring.
     *
     * @param fingerprint what must be equal on every member, e.g. the content hash of the model
     */
    public static RingAllReduce join(int rank, int size, String fingerprint, AddressExchange exchange,
                                     RingOptions options) {
        return join(rank, size, fingerprint, null, exchange, options);
    }

    /**
     * {@link #join}, for a member that may have failed before it could train (its worker could not
     * be built: {@code setupFailure}, a {@link StopVerdict#isVerdict verdict}; {@code fingerprint}
     * is then ignored). It still takes part in the rendezvous, publishing its error instead of an
     * address, so nobody waits for it; every member then throws the first failed member's error
     * (the same on every member), as it throws the model mismatch.
     */
    public static RingAllReduce join(int rank, int size, String fingerprint, OnnxLoraException setupFailure,
                                     AddressExchange exchange, RingOptions options) {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new OnnxLoraException(ErrorCode.BAD_ARGUMENT, "rank " + rank + " is not in a group of " + size);
        }
        if (setupFailure == null && (fingerprint.contains(" ") || fingerprint.isEmpty())) {
            throw new IllegalArgumentException("fingerprint must be one non-empty word");
        }
        ServerSocketChannel server = size > 1 && setupFailure == null ? RingLinks.listen(options.bindHost()) : null;
        try {
            int port = server == null ? 0 : server.socket().getLocalPort();
            String message = setupFailure != null ? StopVerdict.message(setupFailure)
                    : new RingPeer(rank, options.bindHost(), port, fingerprint, new SecureRandom().nextLong()).message();
            List<String> messages = exchange.allGather(rank, message);
            if (messages.size() != size) {
                throw new OnnxLoraException(ErrorCode.COLLECTIVE, "the rendezvous returned " + messages.size()
                        + " addresses for a group of " + size);
            }
            StopVerdict.throwFirstFailure(messages, rank, setupFailure);
            List<RingPeer> peers = new ArrayList<>(size);
            for (int i = 0; i < size; i++) {
                peers.add(RingPeer.parse(i, messages.get(i)));
            }
            RingPeer.checkSameModel(peers);
            RingLinks links = size > 1 ? RingLinks.connect(server, peers, rank, options) : null;
            server = null; // connect closed it
            return new RingAllReduce(rank, size, links);
        } finally {
            if (server != null) {
                try {
                    server.close();
                } catch (java.io.IOException e) {
                    // failing already
                }
            }
        }
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void sum(float[] values, double[] counts) {
        if (broken != null) {
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, broken);
        }
        if (size == 1) {
            return;
        }
        try {
            ring(values, counts);
            calls++;
        } catch (OnnxLoraException e) {
            // close at once so that the neighbours fail now, not after their own timeout
            broken = "the all-reduce ring is broken: " + e.getMessage();
            links.close();
            throw e;
        }
    }

    private void ring(float[] values, double[] counts) {
        int n = values.length;
        int k = counts.length;
        int maxChunk = (n + size - 1) / size;
        int header = FIXED_HEADER + 8 * k;
        ensureBuffers(header + 4 * maxChunk, maxChunk);
        double[][] chunkCounts = new double[size][];
        for (int c = 0; c < size; c++) {
            chunkCounts[c] = counts.clone();
        }
        // reduce-scatter: after N-1 steps this member owns the sums of chunk rank + 1
        for (int s = 0; s < size - 1; s++) {
            int send = Math.floorMod(rank - s, size);
            int recv = Math.floorMod(rank - s - 1, size);
            step(values, send, chunkCounts[send], recv, n, k);
            int off = bound(recv, n);
            int len = bound(recv + 1, n) - off;
            FloatBuffer in = floats(recvBuf, header);
            in.get(scratch, 0, len);
            for (int i = 0; i < len; i++) {
                values[off + i] = scratch[i] + values[off + i];
            }
            double[] cc = chunkCounts[recv];
            for (int i = 0; i < k; i++) {
                cc[i] = recvBuf.getDouble(FIXED_HEADER + 8 * i) + cc[i];
            }
        }
        // all-gather: pass the owned sums on, overwrite with what arrives
        for (int s = 0; s < size - 1; s++) {
            int send = Math.floorMod(rank + 1 - s, size);
            int recv = Math.floorMod(rank - s, size);
            step(values, send, chunkCounts[send], recv, n, k);
            int off = bound(recv, n);
            int len = bound(recv + 1, n) - off;
            floats(recvBuf, header).get(values, off, len);
            for (int i = 0; i < k; i++) {
                chunkCounts[recv][i] = recvBuf.getDouble(FIXED_HEADER + 8 * i);
            }
        }
        System.arraycopy(chunkCounts[0], 0, counts, 0, k);
    }

    /** Sends chunk {@code send} to the right while receiving chunk {@code recv} from the left, then checks its header. */
    private void step(float[] values, int send, double[] sendCounts, int recv, int n, int k) {
        int header = FIXED_HEADER + 8 * k;
        int off = bound(send, n);
        int len = bound(send + 1, n) - off;
        sendBuf.clear();
        sendBuf.putInt(calls).putInt(send).putInt(n).putInt(k);
        for (double c : sendCounts) {
            sendBuf.putDouble(c);
        }
        floats(sendBuf, header).put(values, off, len);
        sendBuf.position(0).limit(header + 4 * len);
        int recvLen = bound(recv + 1, n) - bound(recv, n);
        recvBuf.clear().limit(header + 4 * recvLen);
        links.transfer(sendBuf, recvBuf);
        int gotCall = recvBuf.getInt(0);
        int gotChunk = recvBuf.getInt(4);
        int gotN = recvBuf.getInt(8);
        int gotK = recvBuf.getInt(12);
        if (gotN != n || gotK != k) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "all-reduce members disagree on the payload: the left "
                    + "neighbour of rank " + rank + " sends " + gotN + " values and " + gotK + " counts, rank " + rank
                    + " has " + n + " and " + k);
        }
        if (gotCall != calls || gotChunk != recv) {
            throw new OnnxLoraException(ErrorCode.INTERNAL, "all-reduce members are out of step: rank " + rank
                    + " expected call " + calls + " chunk " + recv + ", got call " + gotCall + " chunk " + gotChunk);
        }
    }

    /** Start of chunk {@code c}: chunks differ in length by at most one float, and may be empty. */
    private int bound(int c, int n) {
        return (int) ((long) n * c / size);
    }

    private static FloatBuffer floats(ByteBuffer buf, int header) {
        return buf.duplicate().clear().position(header).slice().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    private void ensureBuffers(int bytes, int maxChunk) {
        if (sendBuf == null || sendBuf.capacity() < bytes) {
            sendBuf = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
            recvBuf = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        }
        if (scratch.length < maxChunk) {
            scratch = new float[maxChunk];
        }
    }

    @Override
    public void close() {
        if (links != null) {
            links.close();
        }
        if (broken == null) {
            broken = "the all-reduce ring of rank " + rank + " is closed";
        }
    }
}
