package ai.autlearn;

import java.lang.ref.Cleaner;

/**
 * Trains a Model on the device in slices, as an app does between other work
 * (while charging, a few minutes at a time). A Trainer is one
 * personalization run of {@link #epochs} epochs (al_personalize_new): the
 * layers below the freeze point stay fixed, the rest is trained with SGD
 * (momentum 0.9). Each slice (al_trainer_run_slice) continues the run where
 * the last one stopped, optimizer state, shuffle order and position
 * included, so any sequence of slices gives bit for bit the weights of one
 * uninterrupted run. Once the run is complete ({@link TrainResult#done}),
 * the next slice starts another run of the same length.
 *
 * <p>The settings are fixed by the first slice, and so is the training
 * Dataset: every slice must pass that same Dataset object (and the same
 * evaluation Dataset, or none) until the run is complete; the Model and the
 * Datasets must stay open while slices run. Close the Trainer when done
 * (try-with-resources); a Trainer dropped without close() is freed by a
 * Cleaner eventually. Slices on one Trainer are serialized.
 */
public final class Trainer implements AutoCloseable {
    private final Model model;
    private double lr = 0.05;
    private int batch = 32;
    private int freeze = -1;
    private long seed = 1;
    private int augVariants = 1;
    private int epochs = 10;
    private long slices;
    /* the native trainer, made by the first slice; its training data */
    private Handle handle;
    private Cleaner.Cleanable cleanable;
    private Dataset boundTrain;
    private boolean closed;

    public Trainer(Model model) {
        if (model == null) throw AutlearnException.invalid("model is null");
        this.model = model;
    }

    private void settable() {
        if (handle != null || closed) throw AutlearnException.state("the settings of a Trainer are fixed by its first slice");
    }

    /** Learning rate (default 0.05). */
    public synchronized Trainer learningRate(double lr) {
        settable();
        if (!(lr > 0) || Double.isInfinite(lr)) throw AutlearnException.invalid("learning rate must be > 0, got " + lr);
        this.lr = lr;
        return this;
    }

    /** Mini-batch size (default 32). */
    public synchronized Trainer batchSize(int batch) {
        settable();
        if (batch <= 0) throw AutlearnException.invalid("batch size must be > 0, got " + batch);
        this.batch = batch;
        return this;
    }

    /** The freeze point (first trainable node); -1 (the default): the model's default (its stored autlearn.freeze, else the output layer). */
    public synchronized Trainer freeze(int freeze) {
        settable();
        this.freeze = freeze;
        return this;
    }

    /** Seed of the run's shuffle (default 1). */
    public synchronized Trainer seed(long seed) {
        settable();
        this.seed = seed;
        return this;
    }

    /** Fixed augmented variants per image, 1 = none (image models only). */
    public synchronized Trainer augmentVariants(int k) {
        settable();
        this.augVariants = k;
        return this;
    }

    /** Epochs of the whole run (default 10); the learning-rate schedule spans them. */
    public synchronized Trainer epochs(int epochs) {
        settable();
        if (epochs <= 0) throw AutlearnException.invalid("epochs must be > 0, got " + epochs);
        this.epochs = epochs;
        return this;
    }

    /** A slice of {@code epochs} epochs' worth of steps (fewer when the run ends first). */
    public TrainResult trainSlice(Dataset train, int epochs) {
        return trainSlice(train, epochs, null);
    }

    /** The same, evaluating on {@code eval} (may be null) after each epoch. */
    public TrainResult trainSlice(Dataset train, int epochs, Dataset eval) {
        if (epochs <= 0) throw AutlearnException.invalid("epochs must be > 0, got " + epochs);
        return slice(train, eval, -epochs, 0);
    }

    /**
     * A slice of at most {@code maxSteps} steps or {@code maxMillis}
     * milliseconds, whichever comes first (checked between steps; at least
     * one step runs; 0: no limit).
     */
    public TrainResult trainSteps(Dataset train, long maxSteps, double maxMillis, Dataset eval) {
        if (maxSteps < 0 || !(maxMillis >= 0)) throw AutlearnException.invalid("limits must be >= 0");
        return slice(train, eval, maxSteps, maxMillis);
    }

    /* steps < 0: -steps epochs' worth */
    private synchronized TrainResult slice(Dataset train, Dataset eval, long steps, double millis) {
        if (closed) throw AutlearnException.closed("Trainer");
        if (train == null) throw AutlearnException.invalid("training dataset is null");
        if (boundTrain != null && train != boundTrain)
            throw AutlearnException.invalid("a Trainer trains on the Dataset of its first slice");
        synchronized (model) {
            synchronized (train) {
                long mp = model.ptr();
                long tp = train.ptr();
                if (eval != null) {
                    synchronized (eval) {
                        return run(mp, tp, eval.ptr(), steps, millis, train, eval);
                    }
                }
                return run(mp, tp, 0, steps, millis, train, null);
            }
        }
    }

    private TrainResult run(long mp, long tp, long ep, long steps, double millis, Dataset train, Dataset eval) {
        try {
            if (handle == null) {
                long t = Model.nativeTrainerNew(mp, tp, epochs, lr, batch, freeze, seed, augVariants);
                handle = new Handle(t, Model::nativeTrainerFree);
                cleanable = Native.CLEANER.register(this, handle);
                boundTrain = train;
            }
            if (steps < 0) steps = -steps * ((train.size() + (long) batch - 1) / batch);
            long t0 = System.nanoTime();
            double[] r = Model.nativeTrainerSlice(mp, handle.get("Trainer"), tp, ep, steps, millis);
            r[5] = (System.nanoTime() - t0) / 1e9;
            slices++;
            return new TrainResult(r);
        } finally {
            java.lang.ref.Reference.reachabilityFence(model);
            java.lang.ref.Reference.reachabilityFence(train);
            java.lang.ref.Reference.reachabilityFence(eval);
        }
    }

    /** Slices run so far. */
    public synchronized long slices() {
        return slices;
    }

    /** Frees the native trainer; calling it again does nothing. */
    @Override
    public synchronized void close() {
        closed = true;
        if (cleanable != null) cleanable.clean();
    }
}
