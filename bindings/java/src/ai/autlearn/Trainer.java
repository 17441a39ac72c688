package ai.autlearn;

/**
 * Trains a Model on the device in slices, as an app does between other work
 * (while charging, a few epochs at a time). Each slice is one call of
 * al_personalize: the layers below the freeze point stay fixed, the rest is
 * trained with SGD (momentum 0.9) for the given number of epochs. The
 * optimizer state does not carry over from one slice to the next; the
 * shuffle seed advances per slice so slices see different orders.
 *
 * <p>A Trainer holds no native memory of its own, only settings and a
 * reference to its Model; the Model must stay open while slices run.
 */
public final class Trainer {
    private final Model model;
    private double lr = 0.05;
    private int batch = 32;
    private int freeze = -1;
    private long seed = 1;
    private int augVariants = 1;
    private long slices;

    public Trainer(Model model) {
        if (model == null) throw AutlearnException.invalid("model is null");
        this.model = model;
    }

    /** Learning rate (default 0.05). */
    public Trainer learningRate(double lr) {
        if (!(lr > 0) || Double.isInfinite(lr)) throw AutlearnException.invalid("learning rate must be > 0, got " + lr);
        this.lr = lr;
        return this;
    }

    /** Mini-batch size (default 32). */
    public Trainer batchSize(int batch) {
        if (batch <= 0) throw AutlearnException.invalid("batch size must be > 0, got " + batch);
        this.batch = batch;
        return this;
    }

    /** First trainable node; -1 (the default) keeps the model's own freeze point. */
    public Trainer freeze(int firstTrainable) {
        this.freeze = firstTrainable;
        return this;
    }

    /** Seed of the first slice's shuffle (default 1). */
    public Trainer seed(long seed) {
        this.seed = seed;
        return this;
    }

    /** Fixed augmented variants per image, 1 = none (image models only). */
    public Trainer augmentVariants(int k) {
        this.augVariants = k;
        return this;
    }

    /** One slice of {@code epochs} epochs over {@code train}. */
    public TrainResult trainSlice(Dataset train, int epochs) {
        return trainSlice(train, epochs, null);
    }

    /** One slice, evaluating on {@code eval} (may be null) after each epoch. */
    public TrainResult trainSlice(Dataset train, int epochs, Dataset eval) {
        if (train == null) throw AutlearnException.invalid("training dataset is null");
        if (epochs <= 0) throw AutlearnException.invalid("epochs must be > 0, got " + epochs);
        synchronized (model) {
            synchronized (train) {
                long mp = model.ptr();
                long tp = train.ptr();
                long ep = 0;
                if (eval != null) {
                    synchronized (eval) {
                        ep = eval.ptr();
                        return run(mp, tp, ep, epochs, train, eval);
                    }
                }
                return run(mp, tp, ep, epochs, train, null);
            }
        }
    }

    private TrainResult run(long mp, long tp, long ep, int epochs, Dataset train, Dataset eval) {
        try {
            double[] r = Model.nativePersonalize(mp, tp, ep, epochs, lr, batch, freeze, seed + slices, augVariants);
            slices++;
            return new TrainResult(r);
        } finally {
            java.lang.ref.Reference.reachabilityFence(model);
            java.lang.ref.Reference.reachabilityFence(train);
            java.lang.ref.Reference.reachabilityFence(eval);
        }
    }

    /** Slices run so far. */
    public long slices() {
        return slices;
    }
}
