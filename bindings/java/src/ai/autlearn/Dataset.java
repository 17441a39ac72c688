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

    /**
     * Images as Android's {@code Bitmap.getPixels(pixels, 0, width, 0, 0, width, height)}
     * gives them: one int 0xAARRGGBB per pixel, rows of widths[i] ints one after
     * another (alpha is ignored). Image i has widths[i] x heights[i] pixels and the
     * label labels[i] in [0, numClasses). Each image is preprocessed as {@code model}
     * says: its stored preprocessing (autlearn.image.*: size, resize rule, scale,
     * mean, std), else stretched to its input shape (channels 1 or 3 x height x
     * width) with values in [0, 1]. The arrays are copied.
     */
    public static Dataset fromArgbPixels(int[][] pixels, int[] widths, int[] heights, int[] labels, int numClasses,
                                         Model model) {
        Native.load();
        if (pixels == null || widths == null || heights == null || labels == null || model == null)
            throw AutlearnException.invalid("null argument");
        int n = pixels.length;
        if (n == 0) throw AutlearnException.invalid("no images");
        if (widths.length != n || heights.length != n || labels.length != n)
            throw AutlearnException.invalid(n + " images need " + n + " widths, heights and labels, got "
                                            + widths.length + ", " + heights.length + " and " + labels.length);
        for (int i = 0; i < n; i++) {
            if (pixels[i] == null) throw AutlearnException.invalid("image " + i + " is null");
            if (widths[i] <= 0 || heights[i] <= 0 || (long) widths[i] * heights[i] != pixels[i].length)
                throw AutlearnException.invalid("image " + i + ": " + pixels[i].length + " pixels, expected "
                                                + widths[i] + " x " + heights[i]);
        }
        synchronized (model) {
            return new Dataset(nativeFromArgb(pixels, widths, heights, labels, numClasses, model.ptr()), n);
        }
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
    private static native long nativeFromArgb(int[][] pixels, int[] widths, int[] heights, int[] labels,
                                              int numClasses, long model);
    private static native void nativeFree(long ptr);
}
