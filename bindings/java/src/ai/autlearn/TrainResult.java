package ai.autlearn;

/** What one training slice did. Accuracies are fractions in [0, 1]. */
public final class TrainResult {
    /** Epochs and optimizer steps run in this slice. */
    public final int epochs;
    public final long steps;
    /** Mean training loss and running training accuracy of the slice's last epoch. */
    public final double loss;
    public final double trainAccuracy;
    /** Accuracy on the evaluation set after the last epoch; -1 without one. */
    public final double evalAccuracy;
    public final double seconds;

    TrainResult(double[] r) {
        epochs = (int) r[0];
        steps = (long) r[1];
        loss = r[2];
        trainAccuracy = r[3];
        evalAccuracy = r[4];
        seconds = r[5];
    }

    @Override
    public String toString() {
        return String.format("TrainResult{epochs=%d, steps=%d, loss=%.4f, trainAcc=%.4f, evalAcc=%.4f, %.3fs}",
                epochs, steps, loss, trainAccuracy, evalAccuracy, seconds);
    }
}
