package ai.autlearn;

import java.nio.charset.StandardCharsets;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;

/**
 * A neural network: load a model file, predict, train on the device (through
 * a {@link Trainer}), save. Wraps an al_model and the al_pool of worker
 * threads it computes with.
 *
 * <p>Close it when done (try-with-resources); close() is idempotent, and any
 * other call after it throws AutlearnException with status AL_ESTATE. A
 * Model dropped without close() is freed by a Cleaner eventually. Calls on
 * one Model are serialized (its methods are synchronized).
 */
public final class Model implements AutoCloseable {
    private final Handle handle;
    private final Cleaner.Cleanable cleanable;

    private Model(long ptr) {
        handle = new Handle(ptr, Model::nativeFree);
        cleanable = Native.CLEANER.register(this, handle);
    }

    /** Loads and verifies (CRC-32, bounds) a model file; threads as AL_THREADS (default 1). */
    public static Model load(String path) {
        return load(path, 0);
    }

    /** Loads a model file computing with {@code threads} worker threads (0: AL_THREADS or 1). */
    public static Model load(String path, int threads) {
        Native.load();
        if (path == null) throw AutlearnException.invalid("path is null");
        return new Model(nativeLoad(path, threads));
    }

    /**
     * A fresh model from an architecture spec (docs/SPEC.md) or a built-in name
     * ("mlp", "refcnn", "reflm"), weights initialised from {@code seed}.
     */
    public static Model fromSpec(String spec, long seed) {
        return fromSpec(spec, seed, 0);
    }

    public static Model fromSpec(String spec, long seed, int threads) {
        Native.load();
        if (spec == null) throw AutlearnException.invalid("spec is null");
        return new Model(nativeFromSpec(spec, seed, threads));
    }

    /** The library version, e.g. "0.1.0". */
    public static String version() {
        Native.load();
        return Native.version();
    }

    /**
     * Logits of n samples: x holds n * inputSize() floats (row-major, NCHW for
     * images, token ids as floats for text models); the result holds
     * n * outputSize() floats.
     */
    public synchronized float[] predict(float[] x, int n) {
        if (x == null) throw AutlearnException.invalid("x is null");
        try {
            return nativePredict(ptr(), x, n);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Frees the model's working buffers (activations, their gradients,
     * scratch: what training or a prediction planned); the weights stay and
     * the next call plans again for what it does. After training, a model
     * that only predicts gets the training buffers' memory back this way
     * (al_model_release_memory).
     */
    public synchronized void releaseMemory() {
        try {
            nativeReleaseMemory(ptr());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Sets how long (microseconds, 0 to 100000) the model's idle worker
     * threads wait for the next task spinning before they sleep
     * (al_pool_set_spin_us). Default: the AL_SPIN_US environment variable,
     * else 100. Lower it, 0 to sleep at once, where idle cores burning that
     * long cost more battery than the speed is worth; results do not change.
     */
    public synchronized void setSpinMicros(int us) {
        try {
            nativeSetSpinMicros(ptr(), us);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The idle workers' spin in microseconds (see setSpinMicros). */
    public synchronized int spinMicros() {
        try {
            return nativeSpinMicros(ptr());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Writes the model atomically (temporary file, fsync, rename). */
    public synchronized void save(String path) {
        if (path == null) throw AutlearnException.invalid("path is null");
        try {
            nativeSave(ptr(), path);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Sets a metadata string of the model file, e.g. "autlearn.vocab" (a
     * language model's words in id order, joined by '\n').
     */
    public synchronized void setMeta(String key, String value) {
        if (key == null || value == null) throw AutlearnException.invalid("key or value is null");
        try {
            nativeSetMeta(ptr(), key, value.getBytes(StandardCharsets.UTF_8));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Personalizes a language model (one with "autlearn.vocab") on the user's
     * own text, as the keyboard does (al_lm_personalize_text): the predict
     * pass, then Adam with a cosine schedule on the layers past the freeze
     * point (the output layer by default). Words of the text that the
     * vocabulary lacks and that occur at least newWordMinCount times (0: off)
     * get their own entries: the model grows by their rows. Invalid input
     * (a text of only unknown words, too short for one batch) throws.
     * Returns the number of new words.
     */
    public synchronized int personalizeText(String text, int epochs, double lr, int batch, int newWordMinCount,
                                            long seed) {
        if (text == null) throw AutlearnException.invalid("text is null");
        try {
            return nativePersonalizeText(ptr(), text.getBytes(StandardCharsets.UTF_8), epochs, lr, batch,
                                         newWordMinCount, seed);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Mean loss and accuracy over a dataset: {loss, accuracy}. */
    public synchronized double[] evaluate(Dataset d) {
        if (d == null) throw AutlearnException.invalid("dataset is null");
        synchronized (d) {
            try {
                return nativeEvaluate(ptr(), d.ptr(), 64);
            } finally {
                Reference.reachabilityFence(this);
                Reference.reachabilityFence(d);
            }
        }
    }

    /** Per-sample input shape, without the batch dimension. */
    public synchronized int[] inputShape() {
        return nativeShape(ptr(), 0);
    }

    /** Per-sample output shape (logits). */
    public synchronized int[] outputShape() {
        return nativeShape(ptr(), 1);
    }

    public int inputSize() {
        return numel(inputShape());
    }

    public int outputSize() {
        return numel(outputShape());
    }

    /** Trainable plus frozen weights. */
    public synchronized long numParams() {
        return nativeNumParams(ptr());
    }

    /** The canonical architecture spec. */
    public synchronized String spec() {
        return nativeSpec(ptr());
    }

    /** Number of layers (nodes). */
    public synchronized int numNodes() {
        return nativeNodes(ptr(), 0);
    }

    /** The freeze point: nodes below it are frozen, the rest train. */
    public synchronized int freezePoint() {
        return nativeNodes(ptr(), 1);
    }

    /**
     * The class names stored in the model (autlearn.classes), in output order;
     * an empty array when it has none.
     */
    public synchronized String[] classNames() {
        String s = nativeClasses(ptr());
        return s == null || s.isEmpty() ? new String[0] : s.split("\n", -1);
    }

    public boolean isClosed() {
        return handle.isClosed();
    }

    /** Frees the native model; calling it again does nothing. */
    @Override
    public synchronized void close() {
        cleanable.clean();
    }

    /* The live pointer; callers hold this object's lock. */
    long ptr() {
        return handle.get("Model");
    }

    private static int numel(int[] s) {
        int n = 1;
        for (int v : s) n *= v;
        return n;
    }

    private static native long nativeLoad(String path, int threads);
    private static native long nativeFromSpec(String spec, long seed, int threads);
    private static native void nativeFree(long ptr);
    private static native String nativeClasses(long ptr);
    private static native float[] nativePredict(long ptr, float[] x, int n);
    private static native void nativeSave(long ptr, String path);
    private static native void nativeReleaseMemory(long ptr);

    private static native void nativeSetSpinMicros(long ptr, int us);

    private static native int nativeSpinMicros(long ptr);
    private static native double[] nativeEvaluate(long ptr, long dataset, int batch);
    private static native int[] nativeShape(long ptr, int which);
    private static native long nativeNumParams(long ptr);
    private static native String nativeSpec(long ptr);
    private static native int nativeNodes(long ptr, int which);
    private static native void nativeSetMeta(long ptr, String key, byte[] value);
    private static native int nativePersonalizeText(long ptr, byte[] text, int epochs, double lr, int batch,
                                                    int newWordMinCount, long seed);
    /* Trainer's natives (the JNI headers are generated for Model, Dataset and Native) */
    static native long nativeTrainerNew(long ptr, long train, int epochs, double lr, int batch, int freeze, long seed,
                                        int augVariants);
    static native double[] nativeTrainerSlice(long ptr, long trainer, long train, long eval, long maxSteps,
                                              double maxMillis);
    static native void nativeTrainerFree(long trainer);
}
