/* Training benchmark, autlearn side: trains the reference CNN ("refcnn") with
 * SGD + momentum at a fixed learning rate for a fixed number of samples and
 * prints one JSON line. bench/torch_train.py is the PyTorch twin; bench/run.sh
 * runs both and prints the ratios.
 *
 *   bench_train [--samples 2048] [--epochs 1] [--threads 1] [--batch 32]
 *               [--data DIR] [--lr 0.01] [--momentum 0.9] [--seed 1]
 *
 * Data: the first `samples` images of the training split of the IDX files in
 * DIR (Fashion-MNIST), or, without --data, synthetic 1x28x28 images from the
 * hash both sides share (see synth_pixel), so the two runs see the same bytes.
 *
 * What is timed: wall time of the training only (and the process's CPU time
 * over the same span, cpu_seconds, which other load on the machine disturbs
 * less). Data loading, model build
 * and a warm-up of one step an epoch on the first batch (pays for planning,
 * page faults, thread start-up) are outside the timer, as in the PyTorch script.
 *
 * Memory: after the data is loaded the process's RSS high-water mark is reset
 * (/proc/self/clear_refs, "5"), so peak_rss_mb is the peak of the whole
 * process while the model is built and trained: code, libraries, the data
 * subset, weights, activations, optimizer state. The full-file load is not in
 * it (al_idx_load_dir reads all 60k images; the PyTorch script reads only the
 * subset). process_peak_rss_mb is the peak before that reset (imports, data
 * loading), reported for completeness. Same method on both sides. */
#include "autlearn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

typedef struct opts {
    int samples, epochs, threads, batch;
    const char *data;
    double lr, momentum;
    unsigned long long seed;
} opts;

static void usage(void) {
    fprintf(stderr, "usage: bench_train [--samples N] [--epochs E] [--threads T] [--batch B] [--data DIR]\n"
                    "                   [--lr LR] [--momentum M] [--seed S]\n");
}

static int parse_args(int argc, char **argv, opts *o) {
    o->samples = 2048;
    o->epochs = 1;
    o->threads = 1;
    o->batch = 32;
    o->data = NULL;
    o->lr = 0.01;
    o->momentum = 0.9;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_train: option %s needs a value\n", a);
            return 0;
        }
        const char *v = argv[++i];
        char *end = NULL;
        if (!strcmp(a, "--samples"))
            o->samples = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--epochs"))
            o->epochs = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--threads"))
            o->threads = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--batch"))
            o->batch = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--lr"))
            o->lr = strtod(v, &end);
        else if (!strcmp(a, "--momentum"))
            o->momentum = strtod(v, &end);
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--data")) {
            o->data = v;
            continue;
        } else {
            fprintf(stderr, "bench_train: unknown option %s\n", a);
            return 0;
        }
        if (!end || *end) {
            fprintf(stderr, "bench_train: bad value for %s: '%s'\n", a, v);
            return 0;
        }
    }
    if (o->samples <= 0 || o->epochs <= 0 || o->threads <= 0 || o->batch <= 0 || !(o->lr > 0)) {
        fprintf(stderr, "bench_train: samples, epochs, threads, batch and lr must be positive\n");
        return 0;
    }
    if (o->samples % o->batch) {
        /* A partial last batch would make the step count and the per-step
         * time differ from the PyTorch loop, which drops nothing. */
        fprintf(stderr, "bench_train: samples (%d) must be a multiple of batch (%d)\n", o->samples, o->batch);
        return 0;
    }
    return 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_s(void) { /* all threads of the process */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* Resets the kernel's RSS high-water mark (Linux >= 4.0). Returns 1 on success. */
static int reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return 0;
    int ok = fputs("5", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    return ok;
}

/* The synthetic data both scripts generate: pixel at flat index f (over all
 * samples, 784 per sample) is the top byte of a 32-bit multiplicative hash,
 * scaled to [0,1]; the label of sample i is taken from the hash of i. */
static float synth_pixel(uint32_t f) {
    uint32_t h = f * 2654435761u + 12345u;
    return (float)(h >> 24) / 255.0f;
}
static int32_t synth_label(uint32_t i) {
    uint32_t h = i * 2246822519u + 977u;
    return (int32_t)((h >> 24) % 10u);
}

static int load_data(const opts *o, al_dataset **out) {
    if (o->data) {
        al_dataset *full = NULL;
        if (al_idx_load_dir(o->data, 0, &full) != AL_OK) {
            fprintf(stderr, "bench_train: cannot load IDX data from %s: %s\n", o->data, al_last_error());
            return 0;
        }
        if (al_dataset_size(full) < o->samples) {
            fprintf(stderr, "bench_train: %s has %d training samples, %d requested\n", o->data,
                    al_dataset_size(full), o->samples);
            al_dataset_free(full);
            return 0;
        }
        int *idx = malloc(sizeof(int) * (size_t)o->samples);
        if (!idx) {
            al_dataset_free(full);
            return 0;
        }
        for (int i = 0; i < o->samples; i++) idx[i] = i;
        al_status st = al_dataset_subset(full, idx, o->samples, out);
        free(idx);
        al_dataset_free(full);
        if (st != AL_OK) {
            fprintf(stderr, "bench_train: subset: %s\n", al_last_error());
            return 0;
        }
        return 1;
    }
    const size_t per = 28 * 28;
    float *x = malloc(sizeof(float) * per * (size_t)o->samples);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)o->samples);
    if (!x || !y) {
        free(x);
        free(y);
        fprintf(stderr, "bench_train: out of memory for synthetic data\n");
        return 0;
    }
    for (size_t f = 0; f < per * (size_t)o->samples; f++) x[f] = synth_pixel((uint32_t)f);
    for (int i = 0; i < o->samples; i++) y[i] = synth_label((uint32_t)i);
    al_tensor xs = {NULL, 3, {1, 28, 28, 0}};
    al_status st = al_dataset_from_arrays(x, y, o->samples, &xs, 1, 10, out);
    free(x);
    free(y);
    if (st != AL_OK) {
        fprintf(stderr, "bench_train: synthetic dataset: %s\n", al_last_error());
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    opts o;
    if (!parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    al_dataset *train = NULL, *warm = NULL;
    al_model *m = NULL;
    al_pool *pool = NULL;
    al_trainer *t = NULL;
    int rc = 1;

    if (!load_data(&o, &train)) return 1;
    double load_peak = peak_rss_mb();
    int reset = reset_peak_rss();

    /* The warm-up data: the first `batch` samples (one step an epoch). */
    {
        int *idx = malloc(sizeof(int) * (size_t)o.batch);
        if (!idx) goto done;
        for (int i = 0; i < o.batch; i++) idx[i] = i;
        al_status st = al_dataset_subset(train, idx, o.batch, &warm);
        free(idx);
        if (st != AL_OK) {
            fprintf(stderr, "bench_train: warm-up subset: %s\n", al_last_error());
            goto done;
        }
    }
    if (al_model_from_spec("refcnn", o.seed, &m) != AL_OK) {
        fprintf(stderr, "bench_train: model: %s\n", al_last_error());
        goto done;
    }
    if (al_pool_new(o.threads, &pool) != AL_OK) {
        fprintf(stderr, "bench_train: pool: %s\n", al_last_error());
        goto done;
    }
    al_train_config cfg;
    al_train_config_default(&cfg);
    cfg.optim = AL_OPT_SGD;
    cfg.lr = o.lr;
    cfg.momentum = o.momentum;
    cfg.nesterov = 0;
    cfg.weight_decay = 0.0;
    cfg.sched = AL_SCHED_CONST;
    cfg.warmup_steps = 0;
    cfg.clip_norm = 0.0;
    cfg.batch = o.batch;
    cfg.shuffle = 0; /* the PyTorch loop walks the samples in order too */
    cfg.seed = o.seed;
    cfg.patience = 0;
    cfg.progress = NULL;

    /* Warm-up: `epochs` epochs over one batch. The timed run reuses this trainer
     * (runs are resumable slices), so the model's plan, the batch buffers and
     * the momentum buffers exist before the timer starts, as after PyTorch's
     * warm-up step. */
    cfg.epochs = o.epochs;
    if (al_trainer_new(m, pool, &cfg, &t) != AL_OK) {
        fprintf(stderr, "bench_train: trainer: %s\n", al_last_error());
        goto done;
    }
    al_train_report rep;
    memset(&rep, 0, sizeof rep);
    if (al_trainer_run(t, warm, NULL, &rep) != AL_OK) {
        fprintf(stderr, "bench_train: warm-up step: %s\n", al_last_error());
        goto done;
    }

    memset(&rep, 0, sizeof rep);
    double t0 = now_s(), c0 = cpu_s();
    al_status st = al_trainer_run(t, train, NULL, &rep);
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    if (st != AL_OK) {
        fprintf(stderr, "bench_train: training: %s\n", al_last_error());
        goto done;
    }
    long long steps = (long long)o.epochs * (o.samples / o.batch);
    if (rep.steps != steps && rep.steps != steps + o.epochs) /* per run, or counted over all runs */
        fprintf(stderr, "bench_train: warning: trainer reports %lld steps, expected %lld\n", rep.steps, steps);
    double peak = peak_rss_mb();
    printf("{\"impl\":\"autlearn\",\"threads\":%d,\"batch\":%d,\"steps\":%lld,\"seconds\":%.4f,"
           "\"ms_per_step\":%.3f,\"peak_rss_mb\":%.1f,\"final_loss\":%.6f,\"samples\":%d,\"epochs\":%d,"
           "\"data\":\"%s\",\"process_peak_rss_mb\":%.1f,\"rss_reset\":%s,\"cpu_seconds\":%.4f}\n",
           o.threads, o.batch, steps, secs, 1000.0 * secs / (double)steps, peak, rep.final_loss,
           o.samples, o.epochs, o.data ? "idx" : "synthetic", load_peak > peak ? load_peak : peak,
           reset ? "true" : "false", cpu);
    rc = 0;
done:
    al_trainer_free(t);
    al_model_free(m);
    al_pool_free(pool);
    al_dataset_free(warm);
    al_dataset_free(train);
    return rc;
}
