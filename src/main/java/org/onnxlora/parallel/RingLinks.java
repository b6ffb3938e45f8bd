package org.onnxlora.parallel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import org.onnxlora.ErrorCode;
import org.onnxlora.OnnxLoraException;
import org.onnxlora.io.IoErrors;

/**
 * The two connections of a ring member: it sends to its right neighbour (rank + 1) and receives
 * from its left one (rank - 1), both non-blocking under one selector, so a step sends and receives
 * at once (two large chunks written head-on would otherwise fill both kernel buffers and deadlock)
 * and every wait is bounded. Any failure closes both connections, so the neighbours fail at once
 * too instead of waiting for their own timeout.
 */
final class RingLinks implements AutoCloseable {
    private static final int HELLO_MAGIC = 0x4f4c5231; // "OLR1"
    private static final int HELLO_BYTES = 4 + 4 + 4 + 8;

    private final RingPeer left;
    private final RingPeer right;
    private final SocketChannel toRight;
    private final SocketChannel fromLeft;
    private final Selector selector;
    private final SelectionKey writeKey;
    private final SelectionKey readKey;
    private final long stepTimeoutNanos;

    private RingLinks(RingPeer left, RingPeer right, SocketChannel toRight, SocketChannel fromLeft,
                      long stepTimeoutNanos) throws IOException {
        this.left = left;
        this.right = right;
        this.toRight = toRight;
        this.fromLeft = fromLeft;
        this.stepTimeoutNanos = stepTimeoutNanos;
        toRight.configureBlocking(false);
        fromLeft.configureBlocking(false);
        selector = Selector.open();
        writeKey = toRight.register(selector, 0);
        readKey = fromLeft.register(selector, 0);
    }

    /** A listening socket on {@code host}, opened before the rendezvous so that peers can connect as soon as they know it. */
    static ServerSocketChannel listen(String host) {
        try {
            ServerSocketChannel server = ServerSocketChannel.open();
            server.bind(new InetSocketAddress(host, 0), 4);
            return server;
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.COLLECTIVE,
                    "cannot listen for all-reduce peers on " + host + ": " + IoErrors.reason(e), e);
        }
    }

    /** Connects to the right neighbour, then accepts the left one; both present the ids published at the rendezvous. */
    static RingLinks connect(ServerSocketChannel server, List<RingPeer> peers, int rank, RingOptions options) {
        int n = peers.size();
        RingPeer self = peers.get(rank);
        RingPeer right = peers.get((rank + 1) % n);
        RingPeer left = peers.get((rank + n - 1) % n);
        long deadline = System.nanoTime() + options.connectTimeout().toNanos();
        SocketChannel out = null;
        SocketChannel in = null;
        try {
            out = connectTo(right, deadline);
            ByteBuffer hello = ByteBuffer.allocate(HELLO_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            hello.putInt(HELLO_MAGIC).putInt(rank).putInt(n).putLong(self.nonce()).flip();
            while (hello.hasRemaining()) {
                out.write(hello); // 20 bytes into an empty socket buffer: never blocks for long
            }
            in = acceptFrom(server, left, rank, n, deadline);
            out.setOption(StandardSocketOptions.TCP_NODELAY, true);
            in.setOption(StandardSocketOptions.TCP_NODELAY, true);
            return new RingLinks(left, right, out, in, options.stepTimeout().toNanos());
        } catch (IOException e) {
            closeQuietly(out);
            closeQuietly(in);
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "rank " + rank + " could not join the all-reduce ring: "
                    + IoErrors.reason(e), e);
        } catch (RuntimeException e) {
            closeQuietly(out);
            closeQuietly(in);
            throw e;
        } finally {
            closeQuietly(server);
        }
    }

    private static SocketChannel connectTo(RingPeer peer, long deadline) throws IOException {
        while (true) {
            SocketChannel ch = SocketChannel.open();
            try {
                ch.configureBlocking(false);
                if (!ch.connect(new InetSocketAddress(peer.host(), peer.port()))) {
                    try (Selector s = Selector.open()) {
                        ch.register(s, SelectionKey.OP_CONNECT);
                        while (!ch.finishConnect()) {
                            long left = remainingMillis(deadline);
                            if (left <= 0) {
                                throw new OnnxLoraException(ErrorCode.COLLECTIVE, "could not connect to " + peer.where()
                                        + " for the all-reduce in time");
                            }
                            s.select(left);
                        }
                    }
                }
                ch.configureBlocking(true);
                return ch;
            } catch (IOException e) {
                ch.close();
                // its listening socket is open before the rendezvous: a refusal means it is gone, unless time is left
                if (remainingMillis(deadline) <= 0) {
                    throw new OnnxLoraException(ErrorCode.COLLECTIVE, "could not connect to " + peer.where()
                            + " for the all-reduce: " + IoErrors.reason(e), e);
                }
                sleep(50);
            } catch (RuntimeException e) {
                ch.close();
                throw e;
            }
        }
    }

    private static SocketChannel acceptFrom(ServerSocketChannel server, RingPeer left, int rank, int n, long deadline)
            throws IOException {
        server.configureBlocking(false);
        try (Selector s = Selector.open()) {
            server.register(s, SelectionKey.OP_ACCEPT);
            while (true) {
                long ms = remainingMillis(deadline);
                if (ms <= 0) {
                    throw new OnnxLoraException(ErrorCode.COLLECTIVE, "rank " + rank + " waited in vain for "
                            + left.where() + " to connect for the all-reduce");
                }
                s.select(ms);
                SocketChannel ch = server.accept();
                if (ch == null) {
                    continue;
                }
                ByteBuffer hello = ByteBuffer.allocate(HELLO_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                if (readHello(ch, hello, deadline) && hello.getInt(0) == HELLO_MAGIC && hello.getInt(4) == left.rank()
                        && hello.getInt(8) == n && hello.getLong(12) == left.nonce()) {
                    ch.configureBlocking(true);
                    return ch;
                }
                ch.close(); // not our left neighbour of this attempt: a stale or foreign connection
            }
        }
    }

    private static boolean readHello(SocketChannel ch, ByteBuffer hello, long deadline) throws IOException {
        ch.configureBlocking(false);
        try (Selector s = Selector.open()) {
            ch.register(s, SelectionKey.OP_READ);
            while (hello.hasRemaining()) {
                if (ch.read(hello) < 0) {
                    return false;
                }
                if (hello.hasRemaining()) {
                    long ms = remainingMillis(deadline);
                    if (ms <= 0) {
                        return false;
                    }
                    s.select(ms);
                }
            }
        }
        return true;
    }

    /**
     * Sends {@code out} (position to limit) to the right while filling {@code in} (to its limit)
     * from the left. Fails, naming the neighbour, when either side closes, errs, or makes no
     * progress for the step timeout.
     */
    void transfer(ByteBuffer out, ByteBuffer in) {
        long lastProgress = System.nanoTime();
        try {
            while (out.hasRemaining() || in.hasRemaining()) {
                boolean progress = false;
                if (out.hasRemaining()) {
                    try {
                        progress |= toRight.write(out) > 0;
                    } catch (IOException e) {
                        throw lost(right, "sending to", e);
                    }
                }
                if (in.hasRemaining()) {
                    int r;
                    try {
                        r = fromLeft.read(in);
                    } catch (IOException e) {
                        throw lost(left, "receiving from", e);
                    }
                    if (r < 0) {
                        throw new OnnxLoraException(ErrorCode.COLLECTIVE, left.where()
                                + " closed its all-reduce connection mid-step: it, or a rank before it on the ring, stopped");
                    }
                    progress |= r > 0;
                }
                if (Thread.currentThread().isInterrupted()) {
                    throw new OnnxLoraException(ErrorCode.COLLECTIVE, "the all-reduce was interrupted (the job was cancelled)");
                }
                long now = System.nanoTime();
                if (progress) {
                    lastProgress = now;
                    continue;
                }
                long waitedNanos = now - lastProgress;
                if (waitedNanos >= stepTimeoutNanos) {
                    throw silent(in.hasRemaining());
                }
                writeKey.interestOps(out.hasRemaining() ? SelectionKey.OP_WRITE : 0);
                readKey.interestOps(in.hasRemaining() ? SelectionKey.OP_READ : 0);
                selector.select(Math.max(1, (stepTimeoutNanos - waitedNanos) / 1_000_000));
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "the all-reduce selector failed: " + IoErrors.reason(e), e);
        }
    }

    private OnnxLoraException silent(boolean waitingForLeft) {
        long s = stepTimeoutNanos / 1_000_000_000L;
        return waitingForLeft
                ? new OnnxLoraException(ErrorCode.COLLECTIVE, "no all-reduce data from " + left.where() + " for " + s
                        + " s: it, or a rank before it on the ring, stopped answering")
                : new OnnxLoraException(ErrorCode.COLLECTIVE, right.where() + " stopped reading all-reduce data for "
                        + s + " s");
    }

    private static OnnxLoraException lost(RingPeer peer, String doing, IOException e) {
        return new OnnxLoraException(ErrorCode.COLLECTIVE, "lost the all-reduce connection " + doing + " "
                + peer.where() + ": " + IoErrors.reason(e), e);
    }

    @Override
    public void close() {
        closeQuietly(toRight);
        closeQuietly(fromLeft);
        try {
            selector.close();
        } catch (IOException e) {
            // nothing left to release
        }
    }

    private static long remainingMillis(long deadline) {
        return (deadline - System.nanoTime()) / 1_000_000;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new OnnxLoraException(ErrorCode.COLLECTIVE, "interrupted while joining the all-reduce ring", e);
        }
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                // closing after a failure: the first error is the one to report
            }
        }
    }
}
