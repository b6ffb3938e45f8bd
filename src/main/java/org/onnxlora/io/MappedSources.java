package org.onnxlora.io;

import com.google.protobuf.ByteString;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Remembers which {@link ByteString}s are views of a memory-mapped file, and where in
 * that file their bytes lie, so a writer can copy them file-to-file inside the kernel
 * ({@code FileChannel.transferTo}) instead of faulting the mapping into this process
 * and pushing every byte through user space.
 *
 * <p>Keys are compared by identity, never by {@code ByteString.equals}/{@code hashCode}:
 * hashing a mapped 100 MB weight would read all of it. They are weak, so a registered
 * view costs nothing once its model is garbage. Identity survives protobuf's
 * {@code toBuilder()/build()}, so a weight that a pass passes through untouched is still
 * recognised at save time; any derived bytes (a substring, a merged weight) are new
 * instances and are written normally.
 *
 * <p>A registered view's bytes are, at any moment, those of its file: read-only
 * mappings are shared, so an in-place change to the file shows in both. The one way
 * they can differ is the path naming another file by the time of the save (replaced by
 * a rename); {@link Region#fileKey()} lets the writer detect that and fall back.
 */
final class MappedSources {
    /** Where a view's bytes lie: {@code length} bytes at {@code offset} of {@code file}, whose identity is {@code fileKey}. */
    record Region(Path file, Object fileKey, long offset, long length) {}

    private static final ReferenceQueue<ByteString> CLEARED = new ReferenceQueue<>();
    private static final Map<Key, Region> REGIONS = new HashMap<>();

    private MappedSources() {}

    static synchronized void register(ByteString view, Region region) {
        if (view.size() != region.length()) {
            throw new IllegalArgumentException("view of " + view.size() + " bytes registered as " + region);
        }
        expunge();
        REGIONS.put(new Key(view, CLEARED), region);
    }

    /** Where {@code bytes} come from, or null when they are not a registered view. */
    static synchronized Region lookup(ByteString bytes) {
        expunge();
        return REGIONS.get(new Key(bytes, null));
    }

    /** Registered views still alive (for tests). */
    static synchronized int size() {
        expunge();
        return REGIONS.size();
    }

    private static void expunge() {
        for (Object k; (k = CLEARED.poll()) != null; ) {
            REGIONS.remove(k);
        }
    }

    /** A weak reference compared by the identity of its referent; a cleared key equals only itself. */
    private static final class Key extends WeakReference<ByteString> {
        private final int hash;

        Key(ByteString referent, ReferenceQueue<ByteString> queue) {
            super(referent, queue);
            hash = System.identityHashCode(referent);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Key k)) {
                return false;
            }
            ByteString mine = get();
            return mine != null && mine == k.get();
        }
    }
}
