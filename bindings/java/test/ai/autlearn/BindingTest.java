package ai.autlearn;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Java binding end to end, the way an app uses it: build a model, save
 * and load it, predict, train slices on private data and see the test
 * accuracy rise, save and reload with identical predictions; then the error
 * paths (bad files, bad shapes, labels out of range, use after close) and a
 * create/close loop that must not grow the process.
 *
 *   java -cp autlearn.jar:test-classes -Dautlearn.library=libautlearn_jni.so ai.autlearn.BindingTest DIR
 */
public final class BindingTest {
    private static int pass, fail;

    private static void check(String what, boolean ok) {
        if (ok) {
            pass++;
        } else {
            fail++;
            System.err.println("FAIL: " + what);
        }
    }

    interface Body {
        void run() throws Exception;
    }

    /* `body` must throw AutlearnException with status name `name`. */
    private static void expectStatus(String what, String name, Body body) {
        try {
            body.run();
            check(what + ": throws " + name + " (nothing thrown)", false);
        } catch (AutlearnException e) {
            boolean ok = e.statusName().equals(name) && e.getMessage() != null && e.getMessage().length() > name.length() + 2;
            if (!ok) System.err.println("  got " + e.statusName() + " (" + e.status() + "): " + e.getMessage());
            check(what + ": throws " + name, ok);
        } catch (Throwable t) {
            System.err.println("  unexpected " + t);
            check(what + ": throws " + name, false);
        }
    }

    static final int F = 8, K = 3;

    /* K Gaussian clusters in F dimensions, centres fixed by seed 42. */
    static float[] makeX(int n, int[] y, long seed) {
        Random centres = new Random(42), r = new Random(seed);
        float[][] c = new float[K][F];
        for (int k = 0; k < K; k++)
            for (int f = 0; f < F; f++) c[k][f] = (float) (centres.nextGaussian() * 1.5);
        float[] x = new float[n * F];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(K);
            for (int f = 0; f < F; f++) x[i * F + f] = c[y[i]][f] + (float) r.nextGaussian();
        }
        return x;
    }

    static int argmaxAccuracyCount(float[] logits, int[] y) {
        int right = 0;
        for (int i = 0; i < y.length; i++) {
            int best = 0;
            for (int k = 1; k < K; k++)
                if (logits[i * K + k] > logits[i * K + best]) best = k;
            if (best == y[i]) right++;
        }
        return right;
    }

    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(new File("/proc/self/status").toPath()))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        return -1;
    }

    public static void main(String[] args) throws Exception {
        File dir = new File(args.length > 0 ? args[0] : System.getProperty("java.io.tmpdir"));
        String v = Model.version();
        check("version is non-empty (" + v + ")", v != null && !v.isEmpty());

        int ntrain = 300, ntest = 150;
        int[] ytr = new int[ntrain], yte = new int[ntest];
        float[] xtr = makeX(ntrain, ytr, 1), xte = makeX(ntest, yte, 2);
        String spec = "input " + F + "; dense 16; relu; dense " + K;

        /* a model file, as the cloud would ship it */
        File f0 = new File(dir, "cloud.gguf");
        try (Model m = Model.fromSpec(spec, 7)) {
            check("fromSpec: input size", m.inputSize() == F);
            check("fromSpec: output size", m.outputSize() == K);
            check("fromSpec: parameters", m.numParams() == (long) (F * 16 + 16 + 16 * K + K));
            check("fromSpec: two dense layers and a relu", m.numNodes() == 3);
            m.save(f0.getPath());
        }
        check("save writes the file", f0.length() > 0);
        String[] left = dir.list((d, name) -> name.startsWith("cloud.gguf") && !name.equals("cloud.gguf"));
        check("save leaves no temporary file", left != null && left.length == 0);

        try (Model m = Model.load(f0.getPath(), 2);
             Dataset train = Dataset.fromArrays(xtr, ytr, ntrain, new int[] {F}, K);
             Dataset test = Dataset.fromArrays(xte, yte, ntest, new int[] {F}, K)) {
            check("load: spec survives the file", m.spec().contains("dense 16"));
            check("dataset size", train.size() == ntrain && test.size() == ntest);
            float[] y0 = m.predict(xte, ntest);
            check("predict returns n * outputs logits", y0.length == ntest * K);
            boolean finite = true;
            for (float q : y0) finite &= Float.isFinite(q);
            check("predict: logits are finite", finite);
            float[] one = m.predict(Arrays.copyOfRange(xte, 0, F), 1);
            check("predict of one sample equals row 0 of the batch", Arrays.equals(one, Arrays.copyOfRange(y0, 0, K)));
            double[] before = m.evaluate(test);
            check("evaluate agrees with predict's argmax",
                    Math.abs(before[1] - argmaxAccuracyCount(y0, yte) / (double) ntest) < 1e-9);

            Trainer t = new Trainer(m).learningRate(0.05).batchSize(16).seed(3).epochs(5);
            TrainResult s1 = t.trainSlice(train, 2, test);
            TrainResult s2 = t.trainSlice(train, 3, test);
            System.out.println("before: loss " + before[0] + " acc " + before[1]);
            System.out.println("slice 1: " + s1);
            System.out.println("slice 2: " + s2);
            check("slice 1 ran 2 epochs of 19 steps of the run", s1.epochs == 2 && s1.steps == 2 * 19 && !s1.done
                    && s1.runEpochs == 2 && s1.runSteps == 2 * 19);
            check("slice 2 ran 3 epochs and completed the run of 5", s2.epochs == 3 && s2.steps == 3 * 19 && s2.done
                    && s2.runEpochs == 5 && s2.runSteps == 5 * 19);
            expectStatus("settings are fixed by the first slice", "AL_ESTATE", () -> t.learningRate(0.1));
            expectStatus("a slice on another dataset", "AL_EINVAL", () -> t.trainSlice(test, 1));
            check("the training loss falls from slice to slice", s2.loss < s1.loss);
            double[] after = m.evaluate(test);
            System.out.println("after: loss " + after[0] + " acc " + after[1]);
            check("training lowers the test loss", after[0] < before[0]);
            check("training raises the test accuracy", after[1] > before[1]);
            check("the trained model is good (test accuracy >= 0.9)", after[1] >= 0.9);
            check("the slice's eval accuracy is the model's", Math.abs(s2.evalAccuracy - after[1]) < 1e-9);
            check("slices are counted", t.slices() == 2);
            t.close();
            t.close();
            expectStatus("a slice after close", "AL_ESTATE", () -> t.trainSlice(train, 1));

            /* slices add up to one run: one slice of the whole run, slices of
             * 7 steps, slices of 1 microsecond (one step each), and the two epoch slices above (with
             * evaluation, which does not change the weights) all end with the
             * same weights */
            float[][] runs = new float[3][];
            long[] counts = new long[3];
            for (int k = 0; k < 3; k++) {
                try (Model r = Model.load(f0.getPath(), 2);
                     Trainer tr = new Trainer(r).learningRate(0.05).batchSize(16).seed(3).epochs(5)) {
                    long steps = 0;
                    TrainResult s;
                    do {
                        s = k == 0 ? tr.trainSteps(train, 0, 0, null)
                                   : k == 1 ? tr.trainSteps(train, 7, 0, null) : tr.trainSteps(train, 0, 0.001, null);
                        steps += s.steps;
                    } while (!s.done && tr.slices() < 1000);
                    check("run " + k + ": the slices' steps add up to the run's", s.done && steps == 5 * 19
                            && s.runSteps == 5 * 19);
                    counts[k] = tr.slices();
                    runs[k] = r.predict(xte, ntest);
                }
            }
            System.out.println("slices: one run " + counts[0] + ", of 7 steps " + counts[1] + ", of 1 us " + counts[2]);
            check("one slice runs the whole run; 7-step slices: 14; timed slices: several",
                    counts[0] == 1 && counts[1] == 14 && counts[2] > 1);
            check("7-step slices give the weights of one run", Arrays.equals(runs[0], runs[1]));
            check("timed slices give the weights of one run", Arrays.equals(runs[0], runs[2]));
            check("two epoch slices give the weights of one run", Arrays.equals(runs[0], m.predict(xte, ntest)));
            check("... and the run trained", !Arrays.equals(runs[0], y0));

            File f1 = new File(dir, "personal.gguf");
            m.save(f1.getPath());
            float[] y1 = m.predict(xte, ntest);
            m.releaseMemory();
            check("after releaseMemory the model predicts bit for bit the same", Arrays.equals(y1, m.predict(xte, ntest)));
            m.setSpinMicros(0);
            check("setSpinMicros(0) is kept", m.spinMicros() == 0);
            check("workers that sleep at once predict bit for bit the same", Arrays.equals(y1, m.predict(xte, ntest)));
            expectStatus("a spin past 100000 us", "AL_ERANGE", () -> m.setSpinMicros(100001));
            check("a refused spin changes nothing", m.spinMicros() == 0);
            m.setSpinMicros(100);
            try (Model r = Model.load(f1.getPath())) {
                check("the reloaded model predicts bit for bit the same", Arrays.equals(y1, r.predict(xte, ntest)));
            }
            check("trained predictions differ from the untrained ones", !Arrays.equals(y0, y1));

            /* errors become exceptions with the library's status and message */
            expectStatus("predict with a wrong length", "AL_ESHAPE", () -> m.predict(new float[F + 1], 1));
            expectStatus("predict with n = 0", "AL_EINVAL", () -> m.predict(new float[0], 0));
            expectStatus("a label out of range", "AL_ERANGE",
                    () -> Dataset.fromArrays(new float[2 * F], new int[] {0, K}, 2, new int[] {F}, K).close());
            expectStatus("x not n * shape", "AL_ESHAPE",
                    () -> Dataset.fromArrays(new float[2 * F - 1], new int[] {0, 1}, 2, new int[] {F}, K).close());
            expectStatus("a dataset of the wrong width", "AL_ESHAPE", () -> {
                try (Dataset bad = Dataset.fromArrays(new float[4 * 5], new int[] {0, 1, 2, 0}, 4, new int[] {5}, K)) {
                    new Trainer(m).trainSlice(bad, 1);
                }
            });
            expectStatus("zero epochs", "AL_EINVAL", () -> new Trainer(m).trainSlice(train, 0));
        }

        expectStatus("load a missing file", "AL_EIO", () -> Model.load(new File(dir, "nope.gguf").getPath()).close());
        File junk = new File(dir, "junk.gguf");
        try (FileOutputStream o = new FileOutputStream(junk)) {
            o.write("GGUF but not really a model file".getBytes("US-ASCII"));
        }
        expectStatus("load a corrupt file", "AL_EFORMAT", () -> Model.load(junk.getPath()).close());
        expectStatus("a bad spec", "AL_EINVAL", () -> Model.fromSpec("input 8; frobnicate 3", 1).close());
        expectStatus("save into a missing directory", "AL_EIO", () -> {
            try (Model m = Model.fromSpec(spec, 1)) {
                m.save(new File(dir, "no/such/dir/m.gguf").getPath());
            }
        });

        /* images as Android's Bitmap.getPixels gives them: ARGB ints, any size, a
         * label each. Uniform colors stay uniform through any resize, so the
         * expected input is known: the color / 255 in each channel. */
        try (Model im = Model.fromSpec("input 3x4x4; flatten; dense 2", 3)) {
            int ni = 6;
            int[][] px = new int[ni][];
            int[] ws = new int[ni], hs = new int[ni], lab = new int[ni];
            float[] want = new float[ni * 48];
            for (int i = 0; i < ni; i++) {
                ws[i] = 5 + i;
                hs[i] = 3 + 2 * i;
                lab[i] = i % 2;
                int r = 40 * i, g = 255 - 30 * i, b = lab[i] == 0 ? 10 : 200;
                px[i] = new int[ws[i] * hs[i]];
                Arrays.fill(px[i], 0xFF000000 | r << 16 | g << 8 | b);
                for (int k = 0; k < 16; k++) {
                    want[i * 48 + k] = r / 255f;
                    want[i * 48 + 16 + k] = g / 255f;
                    want[i * 48 + 32 + k] = b / 255f;
                }
            }
            try (Dataset di = Dataset.fromArgbPixels(px, ws, hs, lab, 2, im);
                 Dataset da = Dataset.fromArrays(want, lab, ni, new int[] {3, 4, 4}, 2)) {
                check("fromArgbPixels: one sample per image", di.size() == ni);
                double[] e1 = im.evaluate(di), e2 = im.evaluate(da);
                check("fromArgbPixels: channels and values as the preprocessing says",
                        Math.abs(e1[0] - e2[0]) < 1e-5 && e1[1] == e2[1]);
            }
            expectStatus("fromArgbPixels: pixels not width x height", "AL_EINVAL",
                    () -> Dataset.fromArgbPixels(new int[][] {new int[5]}, new int[] {2}, new int[] {2},
                                                 new int[] {0}, 2, im).close());
            expectStatus("fromArgbPixels: a label out of range", "AL_ERANGE",
                    () -> Dataset.fromArgbPixels(new int[][] {new int[4]}, new int[] {2}, new int[] {2},
                                                 new int[] {2}, 2, im).close());
            check("a model without class names", im.classNames().length == 0);
        }
        try (Model flat = Model.fromSpec(spec, 1)) {
            expectStatus("fromArgbPixels: a model whose input is not an image", "AL_ESHAPE",
                    () -> Dataset.fromArgbPixels(new int[][] {new int[4]}, new int[] {2}, new int[] {2},
                                                 new int[] {0}, 2, flat).close());
        }

        /* closed handles: an exception, never a crash; close is idempotent */
        Model c = Model.load(f0.getPath());
        Dataset cd = Dataset.fromArrays(xtr, ytr, ntrain, new int[] {F}, K);
        c.close();
        c.close();
        check("isClosed after close", c.isClosed());
        expectStatus("predict after close", "AL_ESTATE", () -> c.predict(xte, ntest));
        expectStatus("save after close", "AL_ESTATE", () -> c.save(new File(dir, "x.gguf").getPath()));
        expectStatus("train after close", "AL_ESTATE", () -> new Trainer(c).trainSlice(cd, 1));
        cd.close();
        cd.close();
        try (Model m = Model.load(f0.getPath())) {
            expectStatus("train on a closed dataset", "AL_ESTATE", () -> new Trainer(m).trainSlice(cd, 1));
            expectStatus("evaluate on a closed dataset", "AL_ESTATE", () -> m.evaluate(cd));
        }

        /* close racing with predictions on other threads: results or AL_ESTATE */
        Model shared = Model.load(f0.getPath());
        AtomicInteger ok = new AtomicInteger(), closed = new AtomicInteger(), other = new AtomicInteger();
        Thread[] th = new Thread[3];
        for (int i = 0; i < th.length; i++) {
            th[i] = new Thread(() -> {
                for (int j = 0; j < 200; j++) {
                    try {
                        if (shared.predict(xte, ntest).length == ntest * K) ok.incrementAndGet();
                    } catch (AutlearnException e) {
                        if (e.statusName().equals("AL_ESTATE")) closed.incrementAndGet(); else other.incrementAndGet();
                    } catch (Throwable e) {
                        other.incrementAndGet();
                    }
                }
            });
            th[i].start();
        }
        Thread.sleep(20);
        shared.close();
        for (Thread x : th) x.join();
        check("racing close: every call returned or threw AL_ESTATE (" + ok + " ok, " + closed + " closed)",
                other.get() == 0 && ok.get() + closed.get() == 600);

        /* create/close must not leak: 3000 models of 1 MB weights each */
        String big = "input 512; dense 512; relu; dense 10";
        for (int i = 0; i < 100; i++) Model.fromSpec(big, i).close();
        long rss0 = rssKb();
        float[] xb = new float[512];
        for (int i = 0; i < 3000; i++) {
            try (Model m = Model.fromSpec(big, i);
                 Dataset d = Dataset.fromArrays(xb, new int[] {1}, 1, new int[] {512}, 10)) {
                m.predict(xb, 1);
                if (d.size() != 1) throw new AssertionError("dataset size");
            }
        }
        long grew = rssKb() - rss0;
        System.out.println("RSS growth over 3000 create/predict/close cycles: " + grew + " kB");
        check("create/close does not leak (RSS grew " + grew + " kB; a leak would be ~3 GB)", grew < 200 * 1024);

        /* the keyboard: a language model personalized on a String of the user's text */
        try (Model lm = Model.fromSpec("tokens 4; embedding 8 vocab=10; lstm 16; dense 10", 7)) {
            lm.setMeta("autlearn.vocab", "<unk>\n</s>\n<num>\nthe\ncat\nsat\non\nmat\n.\n,");
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 150; i++) sb.append(i % 3 != 0 ? "The cat sat on the zörk. " : "the zörk sat on the mat. ");
            int added = lm.personalizeText(sb.toString(), 4, 0.03, 4, 3, 5);
            check("personalizeText learns the new word (" + added + ")", added == 1);
            check("personalizeText: the output layer grew", lm.outputSize() == 4 * 11 && lm.spec().contains("vocab=11"));
            File fl = new File(dir, "keyboard.gguf");
            lm.save(fl.getPath());
            try (Model back = Model.load(fl.getPath())) {
                check("the personal language model round-trips", back.spec().equals(lm.spec()));
            }
            expectStatus("personalizeText: a text of only unknown words", "AL_EINVAL",
                    () -> lm.personalizeText("zork blip zork blip zork blip", 1, 0.01, 4, 0, 1));
        }

        System.out.println("BindingTest: " + pass + " passed, " + fail + " failed");
        System.exit(fail == 0 ? 0 : 1);
    }
}
