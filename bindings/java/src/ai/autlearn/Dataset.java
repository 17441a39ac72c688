package ai.autlearn;

import java.lang.ref.Cleaner;

/**
 * Training or evaluation data held natively: n samples, each an input of
 * prod(sampleShape) floats and yLen int labels (one class, or one per time
 * step). The arrays are copied; the Dataset does not keep them. Close it
 * when done (idempotent; use after close throws AL_ESTATE).
 */
public final class Dataset implements AutoCloseable {
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;
    private final int size;

    private Dataset(long ptr, int size) {
        handle = new Handle(ptr, Dataset::nativeFree);
        cleanable = Native.CLEANER.register(this, handle);
        this.size = size;
    }

    /**
     * A dataset over copies of x (n * prod(sampleShape) floats) and y (n * yLen
     * labels in [0, numClasses)); yLen is y.length / n.
     */
    public static Dataset fromArrays(float[] x, int[] y, int n, int[] sampleShape, int numClasses) {
        Native.load();
        if (x == null || y == null || sampleShape == null) throw AutlearnException.invalid("null array");
        if (n <= 0) throw AutlearnException.invalid("n must be positive, got " + n);
        if (y.length % n != 0)
            throw AutlearnException.invalid("y has " + y.length + " labels, not a multiple of n = " + n);
        return new Dataset(nativeFromArrays(x, y, n, sampleShape, y.length / n, numClasses), n);
    }

    /** Number of samples. */
    public int size() {
        return size;
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    @Override
    public synchronized void close() {
        cleanable.clean();
    }

    long ptr() {
        return handle.get("Dataset");
    }

    private static native long nativeFromArrays(float[] x, int[] y, int n, int[] shape, int yLen, int numClasses);
    private static native void nativeFree(long ptr);
}
