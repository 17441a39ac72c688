package ai.autlearn;

/** What one training slice did. Accuracies are fractions in [0, 1]. */
public final class TrainResult {
    /** Epochs completed and optimizer steps run in this slice. */
    public final int epochs;
    public final long steps;
    /** Mean training loss and running training accuracy of the run's last epoch. */
    public final double loss;
    public final double trainAccuracy;
    /** Accuracy on the evaluation set after the run's last epoch; -1 without one. */
    public final double evalAccuracy;
    /** Wall time of this slice. */
    public final double seconds;
    /** True when the run is complete (the next slice starts another). */
    public final boolean done;
    /** Epochs completed and steps run in the run so far. */
    public final int runEpochs;
    public final long runSteps;

    TrainResult(double[] r) {
        epochs = (int) r[0];
        steps = (long) r[1];
        loss = r[2];
        trainAccuracy = r[3];
        evalAccuracy = r[4];
        seconds = r[5];
        done = r[6] != 0;
        runEpochs = (int) r[7];
        runSteps = (long) r[8];
    }

    @Override
    public String toString() {
        return String.format("TrainResult{epochs=%d, steps=%d, loss=%.4f, trainAcc=%.4f, evalAcc=%.4f, %.3fs, "
                + "run %d epochs %d steps%s}", epochs, steps, loss, trainAccuracy, evalAccuracy, seconds, runEpochs,
                runSteps, done ? ", done" : "");
    }
}
