/* Training benchmark, autlearn side: one of three jobs, timed, then one JSON
 * line. bench/torch_train.py is the PyTorch twin; bench/run.sh runs both and
 * prints the ratios.
 *
 *   bench_train [--job cnn|lm|personalize|mnv2|mnv2_frozen|mnv2_frozen_int8|...]
 *               [--samples 2048] [--epochs 1]
 *               [--threads 1] [--batch 32] [--data DIR] [--lr 0.01]
 *               [--momentum 0.9] [--seed 1] [--model-threads T]
 *
 * Jobs:
 *   cnn          the reference CNN, every layer trained, SGD + momentum,
 *                `samples` images in order, batch B (the default job).
 *   lm           the reference LM (embedding 64, LSTM 128, dense 5001, T = 20)
 *                trained by truncated BPTT as al_lm_train does it: B parallel
 *                streams of a synthetic token stream (tokens from a hash both
 *                sides share), `samples` windows of 20 tokens, so
 *                samples / B steps of B x 20 tokens; state carried. One
 *                trainer serves the warm-up step and the timed run, as in
 *                the other training jobs (al_lm_train would build a new one,
 *                its buffers first touched inside the timer).
 *   personalize  al_personalize on `samples` images (200 in run.sh): the
 *                reference CNN frozen below its output layer (the default
 *                personalization freeze point, node 12), the library's
 *                defaults (10 epochs, batch 32, lr 0.01, shuffled, no
 *                augmentation) and a 64 MiB runtime cache, so the frozen
 *                prefix runs once, in the first epoch. Timed: the whole job,
 *                nothing before it (no warm-up: the job includes its planning).
 *   mnv2         MobileNetV2-0.5 at 96x96 (MNV2_SPEC, compiled: mnv2_model),
 *                frozen below node 78 (torchvision's features[:15]), the rest
 *                trained: SGD +
 *                momentum, synthetic 3x96x96 images, `samples` in order.
 *   mnv2_frozen  the frozen part alone, forward (al_model_predict) over
 *                `samples` images in batches of B; mnv2_frozen_int8 the same
 *                with the frozen 1x1 convs in int8 (al_quantize_frozen);
 *                mnv2_frozen_int8s with static activation scales calibrated
 *                on 128 other synthetic images (compile --int8 --calib: int8
 *                between consecutive int8 layers). AL_BENCH_INT8_DW=1: the
 *                depthwise convs in int8 too (--int8-dw); AL_BENCH_INT8_MIN_K=K:
 *                --int8-min-k K (8: the thin 1x1 convs too); AL_BENCH_I8_CHAIN=0:
 *                static scales, floats between the layers (an ablation);
 *                AL_BENCH_I8_ADD=0: static scales, the residual adds in
 *                float (as before the int8 add; an ablation).
 *                mnv2_frozen_int8all: static scales with --int8-dw
 *                --int8-min-k 8, every frozen conv in int8 as in the
 *                PyTorch twin's int8 model (42 int8 layers, 49 int8 edges).
 *                AL_BENCH_CHUNK=N (mnv2 jobs, personalize): the frozen forward in
 *                chunks of N samples (al_model_set_forward_chunk; -1: the
 *                whole batch node by node, an ablation); the JSON line's
 *                forward_chunk (0: the library's default).
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
 * loading), reported for completeness. base_rss_mb is the resident set at
 * the reset (library loaded, pool threads started, data loaded) and
 * rss_increase_mb the peak above it: what building and training the model
 * adds, the libraries left out. Same method on both sides.
 *
 * --model-threads T: the job runs on one thread with a serial pool of T
 * parts (al_pool_new_serial): every task's T parts, the same work split and
 * the same results as T threads, run one after the other, each timed in the
 * thread's CPU time. The JSON line adds what the split allows at T threads
 * (model_*: the time outside tasks plus each task's slowest part; no memory
 * bandwidth, wake-ups or shared caches), and stderr lists the task functions
 * (names by addr2line when it is there). bench/threads-model.sh runs it over
 * jobs and thread counts. */
#include "train/train.h"
#include "autlearn_cloud.h"
#include "cloud/compile/compile.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* The jobs, by --job name; the frozen forwards' int8 form (job_mnv2_frozen,
 * mnv2_model: 0 float, 1 int8, 2 static scales, 3 every conv). */
typedef enum { J_CNN, J_LM, J_PERSONALIZE, J_MNV2, J_FROZEN } job_kind;
static const struct {
    const char *name;
    job_kind kind;
    int int8;
} JOBS[] = {{"cnn", J_CNN, 0},          {"lm", J_LM, 0},
            {"personalize", J_PERSONALIZE, 0}, {"mnv2", J_MNV2, 0},
            {"mnv2_frozen", J_FROZEN, 0},  {"mnv2_frozen_int8", J_FROZEN, 1},
            {"mnv2_frozen_int8s", J_FROZEN, 2}, {"mnv2_frozen_int8all", J_FROZEN, 3}};
#define NJOBS ((int)(sizeof JOBS / sizeof JOBS[0]))

/* JOBS[i].name separated by sep, the last two by last */
static void print_jobs(const char *sep, const char *last) {
    for (int i = 0; i < NJOBS; i++) fprintf(stderr, "%s%s", i == 0 ? "" : i == NJOBS - 1 ? last : sep, JOBS[i].name);
}

typedef struct opts {
    const char *job;
    int jobi; /* index into JOBS */
    int samples, epochs, threads, batch, model_threads;
    const char *data;
    double lr, momentum;
    unsigned long long seed;
} opts;

static void usage(void) {
    fprintf(stderr, "usage: bench_train [--job ");
    print_jobs("|", "|");
    fprintf(stderr, "] [--samples N] [--epochs E] [--threads T]\n"
                    "                   [--batch B] [--data DIR]\n"
                    "                   [--lr LR] [--momentum M] [--seed S] [--model-threads T]\n");
}

static int parse_args(int argc, char **argv, opts *o) {
    o->job = "cnn";
    o->jobi = 0;
    o->samples = 2048;
    o->epochs = 1;
    o->threads = 1;
    o->model_threads = 0;
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
        else if (!strcmp(a, "--model-threads"))
            o->model_threads = (int)strtol(v, &end, 10);
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
        } else if (!strcmp(a, "--job")) {
            o->job = v;
            for (o->jobi = 0; o->jobi < NJOBS && strcmp(v, JOBS[o->jobi].name); o->jobi++) continue;
            if (o->jobi == NJOBS) {
                fprintf(stderr, "bench_train: --job must be ");
                print_jobs(", ", " or ");
                fprintf(stderr, ", got '%s'\n", v);
                return 0;
            }
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
    if (o->model_threads < 0 || o->model_threads > 256 || (o->model_threads > 0 && o->threads != 1)) {
        fprintf(stderr, "bench_train: --model-threads takes 1 to 256 and runs on one thread (no --threads)\n");
        return 0;
    }
    if (o->samples % o->batch && JOBS[o->jobi].kind != J_PERSONALIZE) {
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

/* Minor page faults of the process so far (first touches of fresh memory);
 * -1 when unknown. */
static long long minor_faults(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return (long long)ru.ru_minflt;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1.0;
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* The resident set now (/proc/self/statm), MB; -1 when unknown. */
static double current_rss_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1.0;
    long long size = 0, res = -1;
    if (fscanf(f, "%lld %lld", &size, &res) != 2) res = -1;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return res < 0 || page <= 0 ? -1.0 : (double)res * (double)page / 1048576.0;
}

/* The footprint when the high-water mark was reset (library loaded, threads
 * started, data loaded): rss_increase_mb is the peak above it. */
static double g_base_rss = -1.0;

/* Resets the kernel's RSS high-water mark (Linux >= 4.0) and records the
 * footprint at that point. Returns 1 on success. */
static int reset_peak_rss(void) {
    g_base_rss = current_rss_mb();
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

/* The synthetic token stream both sides share: token i of the stream. */
static int32_t synth_token(uint32_t i, int vocab) {
    uint32_t h = i * 2654435761u + 40503u;
    h ^= h >> 16;
    return (int32_t)(h % (uint32_t)vocab);
}

/* Floating-point operations of one training step of batch n: 2 per MAC of
 * every node's forward, and again for the weight gradient and the input
 * gradient where backward computes them (weights trained; input gradient
 * above the lowest trained node). Element-wise work is not counted. */
static double step_flops(const al_model *m, int n) {
    int lowest = -1;
    for (int i = 0; i < m->nnodes && lowest < 0; i++)
        if (m->nodes[i].trainable && m->nodes[i].nparams > 0) lowest = i;
    double f = 0;
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        if (!nd->vt->macs || nd->nparams == 0) continue; /* pools, activations */
        double macs = (double)nd->vt->macs(nd), mult = 1;
        if (lowest >= 0 && i >= lowest) {
            if (nd->nparams > 0 && nd->trainable && nd->cfg.type != AL_L_EMBEDDING) mult += 1; /* dW */
            if (i > lowest) mult += 1;                                                       /* dx */
        }
        f += 2.0 * macs * mult;
    }
    return f * n;
}

static void train_cfg(const opts *o, al_train_config *cfg) {
    al_train_config_default(cfg);
    cfg->optim = AL_OPT_SGD;
    cfg->lr = o->lr;
    cfg->momentum = o->momentum;
    cfg->nesterov = 0;
    cfg->weight_decay = 0.0;
    cfg->sched = AL_SCHED_CONST;
    cfg->warmup_steps = 0;
    cfg->clip_norm = 0.0;
    cfg->batch = o->batch;
    cfg->shuffle = 0; /* the PyTorch loop walks the samples in order too */
    cfg->seed = o->seed;
    cfg->patience = 0;
    cfg->progress = NULL;
    cfg->epochs = o->epochs;
}

typedef struct result {
    /* planned: what the job's memory plan counts (al_trainer_plan_memory,
     * al_personalize_plan_memory: total), MB; -1: none (the frozen forward) */
    double secs, cpu, final_loss, flops_per_step, load_peak, planned;
    long long steps, faults; /* faults: minor page faults inside the timer */
    int reset;
} result;

/* The timer's start: wall and CPU seconds, page faults. */
typedef struct {
    double t, c;
    long long f;
} mark;

static mark mark_now(void) {
    mark k = {now_s(), cpu_s(), minor_faults()};
    return k;
}

/* The time since k into res (seconds, CPU seconds, page faults). */
static void mark_since(const mark *k, result *res) {
    res->secs = now_s() - k->t;
    res->cpu = cpu_s() - k->c;
    long long f = minor_faults();
    res->faults = f >= 0 && k->f >= 0 ? f - k->f : -1;
}

/* A trainer for m (in *t, the caller frees it), warmed up on `warm`, then
 * the timed run over `train`: seconds, CPU seconds and steps into res, the
 * run's report into rep. The warm-up runs `epochs` epochs over one batch, and
 * the timed run reuses this trainer (runs are resumable slices), so the
 * model's plan, the batch buffers and the momentum buffers exist before the
 * timer starts, as after PyTorch's warm-up step. 0 on a failure (printed). */
static int timed_training(const opts *o, al_pool *pool, al_model *m, const al_train_config *cfg,
                          const al_dataset *warm, const al_dataset *train, al_trainer **t, al_train_report *rep,
                          result *res) {
    al_mem_plan plan;
    if (al_trainer_plan_memory(m, pool, train, cfg, 0, &plan) != AL_OK) {
        fprintf(stderr, "bench_train: memory plan: %s\n", al_last_error());
        return 0;
    }
    res->planned = (double)plan.total / (1 << 20);
    if (al_trainer_new(m, pool, cfg, t) != AL_OK) {
        fprintf(stderr, "bench_train: trainer: %s\n", al_last_error());
        return 0;
    }
    memset(rep, 0, sizeof *rep);
    if (al_trainer_run(*t, warm, NULL, rep) != AL_OK) {
        fprintf(stderr, "bench_train: warm-up step: %s\n", al_last_error());
        return 0;
    }
    memset(rep, 0, sizeof *rep);
    al_pool_stats_reset(pool);
    mark k0 = mark_now();
    al_status st = al_trainer_run(*t, train, NULL, rep);
    mark_since(&k0, res);
    if (st != AL_OK) {
        fprintf(stderr, "bench_train: training: %s\n", al_last_error());
        return 0;
    }
    res->steps = (long long)o->epochs * (o->samples / o->batch);
    if (rep->steps != res->steps && rep->steps != res->steps + o->epochs) /* per run, or counted over all runs */
        fprintf(stderr, "bench_train: warning: trainer reports %lld steps, expected %lld\n", rep->steps, res->steps);
    return 1;
}

/* The reference CNN, every layer trained (see the file comment). */
static int job_cnn(const opts *o, al_pool *pool, result *res) {
    al_dataset *train = NULL, *warm = NULL;
    al_model *m = NULL;
    al_trainer *t = NULL;
    int ok = 0;
    if (!load_data(o, &train)) return 0;
    res->load_peak = peak_rss_mb();
    res->reset = reset_peak_rss();
    /* The warm-up data: the first `batch` samples (one step an epoch). */
    {
        int *idx = malloc(sizeof(int) * (size_t)o->batch);
        if (!idx) goto done;
        for (int i = 0; i < o->batch; i++) idx[i] = i;
        al_status st = al_dataset_subset(train, idx, o->batch, &warm);
        free(idx);
        if (st != AL_OK) {
            fprintf(stderr, "bench_train: warm-up subset: %s\n", al_last_error());
            goto done;
        }
    }
    if (al_model_from_spec("refcnn", o->seed, &m) != AL_OK) {
        fprintf(stderr, "bench_train: model: %s\n", al_last_error());
        goto done;
    }
    al_train_config cfg;
    train_cfg(o, &cfg);
    al_train_report rep;
    if (!timed_training(o, pool, m, &cfg, warm, train, &t, &rep, res)) goto done;
    res->final_loss = rep.final_loss;
    res->flops_per_step = step_flops(m, o->batch);
    ok = 1;
done:
    al_trainer_free(t);
    al_model_free(m);
    al_dataset_free(warm);
    al_dataset_free(train);
    return ok;
}

/* al_lm_train's epoch end: the carried state zeroed (the next epoch starts
 * afresh). */
static int lm_epoch_end(void *user, const al_epoch_info *info, int final) {
    (void)info;
    if (final) al_model_reset_state(user);
    return 0;
}

/* The reference LM by truncated BPTT over B streams (al_lm_train). */
static int job_lm(const opts *o, al_pool *pool, result *res) {
    const int T = 20, V = 5001;
    al_model *m = NULL;
    al_trainer *t = NULL;
    al_dataset *train = NULL, *warm = NULL;
    int32_t *ids = NULL;
    int ok = 0;
    /* W windows per stream, B streams: B*W*T tokens and the last target. */
    long W = o->samples / o->batch, n = (long)o->batch * W * T + 1;
    ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!ids) return 0;
    for (long i = 0; i < n; i++) ids[i] = synth_token((uint32_t)i, V);
    al_status st = al_text_windows(ids, n, T, o->batch, V, &train, NULL);
    if (!st) st = al_text_windows(ids, (long)o->batch * T + 1, T, o->batch, V, &warm, NULL);
    if (st) {
        fprintf(stderr, "bench_train: windows: %s\n", al_last_error());
        goto done;
    }
    res->load_peak = peak_rss_mb();
    res->reset = reset_peak_rss();
    if (al_model_from_spec("reflm", o->seed, &m) != AL_OK) {
        fprintf(stderr, "bench_train: model: %s\n", al_last_error());
        goto done;
    }
    /* TBPTT as al_lm_train runs it (the state carried from a window to the
     * next, no shuffle, the state zeroed when an epoch ends), on one trainer
     * kept from the warm-up to the timed run as the image jobs keep theirs:
     * al_lm_train builds a trainer a call, and its gradient, momentum and
     * rollback buffers, first touched inside the timer, cost about 6,000 page
     * faults (2 ms a step over 20 steps on a 2-core virtual machine, all of it
     * serial), which the PyTorch twin's warm-up step pays outside its timer. */
    al_train_config cfg;
    train_cfg(o, &cfg);
    cfg.progress = lm_epoch_end;
    cfg.progress_user = m;
    al_model_set_carry_state(m, 1);
    al_model_reset_state(m);
    al_train_report rep;
    if (!timed_training(o, pool, m, &cfg, warm, train, &t, &rep, res)) goto done;
    res->final_loss = rep.final_loss;
    res->flops_per_step = step_flops(m, o->batch);
    ok = 1;
done:
    al_trainer_free(t);
    al_dataset_free(train);
    al_dataset_free(warm);
    al_model_free(m);
    free(ids);
    return ok;
}

/* MobileNetV2 (width 0.5) at 96x96 input, 10 classes: the spec `autlearn
 * import` makes of ../shared/fixtures/onnx/mnv2_050.legacy.onnx (torchvision's
 * mobilenet_v2(width_mult=0.5, num_classes=10) exported by PyTorch 2.11; the
 * batch norms are folded into the convolutions' biases), weights from the
 * seed. Nodes [0, MNV2_FREEZE) are torchvision's features[:15]; the last
 * three inverted-residual blocks (features[15..17]), the 1x1 conv to 1280
 * (features[18]) and the classifier are trained. */
static const char MNV2_SPEC[] =
    "input 3x96x96; conv 16 k=3 s=2 p=1; relu6; dwconv k=3 s=1 p=1; relu6; conv 8 k=1 s=1 p=0; "
    "conv 48 k=1 s=1 p=0; relu6; dwconv k=3 s=2 p=1; relu6; conv 16 k=1 s=1 p=0; "
    "conv 96 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 16 k=1 s=1 p=0; add 9; "
    "conv 96 k=1 s=1 p=0; relu6; dwconv k=3 s=2 p=1; relu6; conv 16 k=1 s=1 p=0; "
    "conv 96 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 16 k=1 s=1 p=0; add 20; "
    "conv 96 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 16 k=1 s=1 p=0; add 26; "
    "conv 96 k=1 s=1 p=0; relu6; dwconv k=3 s=2 p=1; relu6; conv 32 k=1 s=1 p=0; "
    "conv 192 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 32 k=1 s=1 p=0; add 37; "
    "conv 192 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 32 k=1 s=1 p=0; add 43; "
    "conv 192 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 32 k=1 s=1 p=0; add 49; "
    "conv 192 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 48 k=1 s=1 p=0; "
    "conv 288 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 48 k=1 s=1 p=0; add 60; "
    "conv 288 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 48 k=1 s=1 p=0; add 66; "
    "conv 288 k=1 s=1 p=0; relu6; dwconv k=3 s=2 p=1; relu6; conv 80 k=1 s=1 p=0; "
    "conv 480 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 80 k=1 s=1 p=0; add 77; "
    "conv 480 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 80 k=1 s=1 p=0; add 83; "
    "conv 480 k=1 s=1 p=0; relu6; dwconv k=3 s=1 p=1; relu6; conv 160 k=1 s=1 p=0; "
    "conv 1280 k=1 s=1 p=0; relu6; gap; dense 10";
#define MNV2_FREEZE 78
#define MNV2_NODES 99

/* The first `nodes` nodes of MNV2_SPEC (the input line and that many more). */
static int mnv2_spec(int nodes, char *out, size_t cap) {
    int seen = 0;
    for (size_t i = 0; MNV2_SPEC[i]; i++) {
        if (MNV2_SPEC[i] == ';' && ++seen > nodes) {
            if (i >= cap) return 0;
            memcpy(out, MNV2_SPEC, i);
            out[i] = 0;
            return 1;
        }
    }
    if (sizeof MNV2_SPEC > cap) return 0;
    memcpy(out, MNV2_SPEC, sizeof MNV2_SPEC);
    return 1;
}

#define MNV2_CALIB 128 /* calibration images (int8 >= 2) */

/* MNV2_SPEC's first `nodes` nodes, built from the seed and compiled for the
 * device at the freeze point as `autlearn compile [--int8]` does: the ReLU6
 * after each 1x1 conv and after each depthwise conv becomes its fused
 * activation, and with int8 (1: scales found at run time; 2: static scales
 * calibrated on MNV2_CALIB synthetic images that are not the timed ones,
 * --int8 --calib) the frozen 1x1 convs of at least 32 input channels get
 * int8 weights; 3: as 2 with --int8-dw --int8-min-k 8, every frozen conv in
 * int8 (as the PyTorch twin's int8 model). */
/* AL_BENCH_CHUNK=N: the frozen forward in chunks of N samples
 * (al_model_set_forward_chunk; -1: node by node over the whole batch, as
 * before session 16; unset or 0: the library's default) */
static int chunk_setting(void) {
    const char *c = getenv("AL_BENCH_CHUNK");
    return c ? atoi(c) : 0;
}

static void bench_chunk(al_model *m) { al_model_set_forward_chunk(m, chunk_setting()); }

static int mnv2_model(int nodes, int freeze, int int8, unsigned long long seed, al_model **out) {
    char spec[sizeof MNV2_SPEC];
    al_model *m = NULL;
    float *calib = NULL;
    *out = NULL;
    if (!mnv2_spec(nodes, spec, sizeof spec)) return 0;
    al_compile_opts co;
    al_compile_defaults(&co);
    co.quantize_frozen = int8 > 0;
    /* AL_BENCH_INT8_DW=1: the depthwise convs in int8 too (compile --int8-dw) */
    const char *dw = getenv("AL_BENCH_INT8_DW");
    co.quantize_dw = int8 == 3 || (int8 && dw && !strcmp(dw, "1"));
    /* AL_BENCH_INT8_MIN_K=K: compile --int8-min-k K (default 32) */
    const char *mk = getenv("AL_BENCH_INT8_MIN_K");
    if (mk && atoi(mk) > 0) co.quant_min_k = atoi(mk);
    if (int8 == 3) co.quant_min_k = 8; /* every conv: the thin 1x1 convs and the first conv too */
    if (int8 >= 2) {
        const size_t per = 3 * 96 * 96, off = per * 65536; /* past any timed image */
        calib = malloc(sizeof(float) * per * MNV2_CALIB);
        if (!calib) return 0;
        for (size_t f = 0; f < per * MNV2_CALIB; f++) calib[f] = synth_pixel((uint32_t)(off + f));
        co.calib_x = calib;
        co.calib_n = MNV2_CALIB;
    }
    al_compile_report rep;
    memset(&rep, 0, sizeof rep);
    al_status st = al_model_from_spec(spec, seed, &m);
    if (!st) st = al_compile(m, freeze, &co, out, &rep);
    al_model_free(m);
    free(calib);
    if (st) {
        fprintf(stderr, "bench_train: MobileNetV2 model: %s\n", al_last_error());
        return 0;
    }
    /* AL_BENCH_I8_CHAIN=0: static scales, but floats between the layers */
    const char *chain = getenv("AL_BENCH_I8_CHAIN");
    if (chain && !strcmp(chain, "0")) (*out)->i8_chain = 0;
    bench_chunk(*out);
    /* AL_BENCH_I8_ADD=0: the residual adds' static scales dropped: float adds
     * in the chain, as before the int8 add (an ablation) */
    const char *i8add = getenv("AL_BENCH_I8_ADD");
    if (i8add && !strcmp(i8add, "0"))
        for (int i = 0; i < (*out)->nnodes; i++) (*out)->nodes[i].add_scale = 0.0f;
    fprintf(stderr, "bench_train: MobileNetV2, %d nodes compiled to %d (%d activations fused, %d int8, %d static "
                    "scales, %d int8 edges, %d int8 adds), freeze %d\n",
            rep.nodes_in, rep.nodes_out, rep.fused_act, rep.quantized, rep.calibrated, al_model_i8_links(*out),
            al_model_i8_adds(*out), rep.freeze_out);
    al_compile_report_free(&rep);
    return 1;
}

/* Synthetic 3x96x96 images and labels from the hash both sides share. */
static int mnv2_data(int samples, al_dataset **out) {
    const size_t per = 3 * 96 * 96;
    float *x = malloc(sizeof(float) * per * (size_t)samples);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)samples);
    al_status st = AL_ENOMEM;
    if (x && y) {
        for (size_t f = 0; f < per * (size_t)samples; f++) x[f] = synth_pixel((uint32_t)f);
        for (int i = 0; i < samples; i++) y[i] = synth_label((uint32_t)i);
        al_tensor xs = {NULL, 3, {3, 96, 96, 0}};
        st = al_dataset_from_arrays(x, y, samples, &xs, 1, 10, out);
    }
    free(x);
    free(y);
    if (st != AL_OK) fprintf(stderr, "bench_train: synthetic 3x96x96 data: %s\n", al_last_error());
    return st == AL_OK;
}

/* A training step of MobileNetV2-0.5 frozen at MNV2_FREEZE: the frozen
 * forward (no cache: every step recomputes it, as the PyTorch twin does), the
 * trained part's forward and backward, SGD with momentum. */
static int job_mnv2(const opts *o, al_pool *pool, result *res) {
    al_dataset *train = NULL, *warm = NULL;
    al_model *m = NULL;
    al_trainer *t = NULL;
    int ok = 0;
    if (!mnv2_data(o->samples, &train) || !mnv2_data(o->batch, &warm)) goto done;
    res->load_peak = peak_rss_mb();
    res->reset = reset_peak_rss();
    if (!mnv2_model(MNV2_NODES, MNV2_FREEZE, 0, o->seed, &m)) goto done;
    al_train_config cfg;
    train_cfg(o, &cfg);
    al_train_report rep;
    if (!timed_training(o, pool, m, &cfg, warm, train, &t, &rep, res)) goto done;
    res->final_loss = rep.final_loss;
    res->flops_per_step = step_flops(m, o->batch);
    ok = 1;
done:
    al_trainer_free(t);
    al_model_free(m);
    al_dataset_free(warm);
    al_dataset_free(train);
    return ok;
}

/* The frozen part alone (nodes [0, MNV2_FREEZE), output 80x3x3), forward
 * over batches of B: float, or with its dense and conv nodes quantized to
 * int8 as `autlearn compile --int8` does (al_quantize_frozen: the 1x1 convs
 * with at least 32 input channels; the depthwise convs and the first conv
 * stay float). */
/* AL_BENCH_INT8_ERROR=1 (outside the timer): the int8 frozen part's
 * features against the float model's (the same weights before quantizing)
 * on the first 64 images: relative L2 error over all of them, the smallest
 * per-image cosine, and how many argmaxes of a fixed random linear head
 * (10 x 720, from the shared hash) agree; printed to stderr. */
static int int8_error(const opts *o, al_pool *pool, al_model *q, const float *x) {
    const int n = 64;
    const size_t per = 3 * 96 * 96, outn = 80 * 3 * 3;
    if (o->samples < n) return 1;
    al_model *f = NULL;
    float *yf = malloc(sizeof(float) * outn * n), *yq = malloc(sizeof(float) * outn * n);
    int ok = yf && yq && mnv2_model(MNV2_FREEZE, MNV2_FREEZE, 0, o->seed, &f);
    for (int s = 0; ok && s < n; s += 32)
        ok = al_model_predict(f, pool, x + (size_t)s * per, 32, yf + (size_t)s * outn) == AL_OK &&
             al_model_predict(q, pool, x + (size_t)s * per, 32, yq + (size_t)s * outn) == AL_OK;
    if (ok) {
        double num = 0.0, den = 0.0, mincos = 1.0;
        int agree = 0;
        for (int i = 0; i < n; i++) {
            const float *a = yf + (size_t)i * outn, *b = yq + (size_t)i * outn;
            double ab = 0.0, aa = 0.0, bb = 0.0, hf[10] = {0}, hq[10] = {0};
            for (size_t j = 0; j < outn; j++) {
                num += ((double)b[j] - a[j]) * ((double)b[j] - a[j]);
                den += (double)a[j] * a[j];
                ab += (double)a[j] * b[j], aa += (double)a[j] * a[j], bb += (double)b[j] * b[j];
                for (int c = 0; c < 10; c++) {
                    double w = synth_pixel((uint32_t)(c * outn + j + 977)) - 0.5;
                    hf[c] += w * a[j], hq[c] += w * b[j];
                }
            }
            double cs = ab / sqrt(aa * bb + 1e-300);
            mincos = cs < mincos ? cs : mincos;
            int af = 0, aq = 0;
            for (int c = 1; c < 10; c++) af = hf[c] > hf[af] ? c : af, aq = hq[c] > hq[aq] ? c : aq;
            agree += af == aq;
        }
        fprintf(stderr, "bench_train: int8 vs float features, %d images: relative L2 error %.5f, smallest cosine "
                        "%.6f, head argmax agreement %d/%d\n", n, sqrt(num / den), mincos, agree, n);
    }
    free(yf);
    free(yq);
    al_model_free(f);
    return ok;
}

static int job_mnv2_frozen(const opts *o, al_pool *pool, result *res, int int8) {
    al_model *m = NULL;
    float *y = NULL, *x = NULL;
    int ok = 0;
    const size_t per = 3 * 96 * 96, outn = 80 * 3 * 3;
    x = malloc(sizeof(float) * per * (size_t)o->samples);
    if (!x) goto done;
    for (size_t f = 0; f < per * (size_t)o->samples; f++) x[f] = synth_pixel((uint32_t)f);
    res->load_peak = peak_rss_mb();
    res->reset = reset_peak_rss();
    if (!mnv2_model(MNV2_FREEZE, MNV2_FREEZE, int8, o->seed, &m)) goto done;
    y = malloc(sizeof(float) * outn * (size_t)o->batch);
    if (!y) goto done;
    if (al_model_predict(m, pool, x, o->batch, y) != AL_OK) { /* warm-up: plans, touches the buffers */
        fprintf(stderr, "bench_train: frozen forward: %s\n", al_last_error());
        goto done;
    }
    al_pool_stats_reset(pool);
    mark k0 = mark_now();
    long long steps = 0;
    for (int e = 0; e < o->epochs; e++)
        for (int s = 0; s + o->batch <= o->samples; s += o->batch, steps++)
            if (al_model_predict(m, pool, x + (size_t)s * per, o->batch, y) != AL_OK) {
                fprintf(stderr, "bench_train: frozen forward: %s\n", al_last_error());
                goto done;
            }
    mark_since(&k0, res);
    res->steps = steps;
    const char *err = getenv("AL_BENCH_INT8_ERROR");
    if (int8 && err && !strcmp(err, "1") && !int8_error(o, pool, m, x)) goto done;
    double sum = 0.0; /* "final_loss": the mean of the last batch's features, a checksum */
    for (size_t i = 0; i < outn * (size_t)o->batch; i++) sum += y[i];
    res->final_loss = sum / (double)(outn * (size_t)o->batch);
    res->flops_per_step = 2.0 * (double)al_model_macs(m) * o->batch;
    ok = 1;
done:
    free(y);
    free(x);
    al_model_free(m);
    return ok;
}

/* al_personalize with the runtime cache (see the file comment). */
static int job_personalize(const opts *o, al_pool *pool, result *res) {
    al_dataset *train = NULL;
    al_model *m = NULL;
    al_cache *cache = NULL;
    int ok = 0;
    if (!load_data(o, &train)) return 0;
    res->load_peak = peak_rss_mb();
    res->reset = reset_peak_rss();
    mark k0 = mark_now();
    if (al_model_from_spec("refcnn", o->seed, &m) != AL_OK || al_cache_new((size_t)64 << 20, NULL, &cache) != AL_OK) {
        fprintf(stderr, "bench_train: model/cache: %s\n", al_last_error());
        goto done;
    }
    bench_chunk(m);
    al_personalize_config pc;
    al_personalize_config_default(&pc);
    pc.freeze = al_model_num_nodes(m) - 1; /* the default freeze point: the output layer */
    pc.train.seed = o->seed;
    al_personalize_report rep;
    memset(&rep, 0, sizeof rep);
    al_mem_plan plan; /* a dry run: nothing allocated, outside the timer */
    al_status st = al_personalize_plan_memory(m, pool, train, cache, &pc, &plan);
    res->planned = st == AL_OK ? (double)plan.total / (1 << 20) : -1.0;
    al_pool_stats_reset(pool);
    k0 = mark_now(); /* the model build is outside the timer, as in the PyTorch script */
    if (st == AL_OK) st = al_personalize(m, pool, train, NULL, cache, &pc, NULL, &rep);
    mark_since(&k0, res);
    if (st != AL_OK) {
        fprintf(stderr, "bench_train: personalize: %s\n", al_last_error());
        goto done;
    }
    res->steps = rep.train.steps;
    res->final_loss = rep.train.final_loss;
    res->flops_per_step = 2.0 * (double)rep.macs / (double)(rep.train.steps > 0 ? rep.train.steps : 1);
    ok = 1;
done:
    al_cache_free(cache);
    al_model_free(m);
    al_dataset_free(train);
    return ok;
}

/* Where this executable is loaded (the start of its first mapping in
 * /proc/self/maps) and its path, for addr2line; 0 when unknown. */
static uintptr_t exe_base(char *path, size_t cap) {
    ssize_t n = readlink("/proc/self/exe", path, cap - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    char line[4096];
    uintptr_t base = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo = 0;
        const char *slash = strchr(line, '/');
        size_t len = slash ? strcspn(slash, "\n") : 0;
        if (slash && len == (size_t)n && !strncmp(slash, path, len) && sscanf(line, "%llx-", &lo) == 1) {
            base = (uintptr_t)lo;
            break;
        }
    }
    fclose(f);
    return base;
}

/* The task functions of a --model-threads run on stderr, the most time
 * first: tasks, summed parts and slowest parts per step, and the time lost
 * to the split's imbalance at T threads (slowest part minus the mean). */
static void print_task_stats(al_pool_stat *st, int n, int T, long long steps, double outside_ms) {
    for (int i = 1; i < n; i++) /* by summed time, descending */
        for (int j = i; j > 0 && st[j].sum_s > st[j - 1].sum_s; j--) {
            al_pool_stat t = st[j];
            st[j] = st[j - 1];
            st[j - 1] = t;
        }
    char names[64][128];
    char exe[1024];
    uintptr_t base = exe_base(exe, sizeof exe);
    for (int i = 0; i < n; i++) snprintf(names[i], sizeof names[i], "%s", st[i].fn ? "?" : "(others)");
    if (base && n > 0 && !strchr(exe, '\'') && access(exe, R_OK) == 0) {
        char cmd[8192];
        int len = snprintf(cmd, sizeof cmd, "addr2line -f -e '%s'", exe);
        for (int i = 0; i < n && len > 0 && (size_t)len < sizeof cmd - 32; i++)
            len += snprintf(cmd + len, sizeof cmd - (size_t)len, " 0x%llx",
                            (unsigned long long)((uintptr_t)st[i].fn - base));
        if (len > 0 && (size_t)len < sizeof cmd - 32) {
            snprintf(cmd + len, sizeof cmd - (size_t)len, " 2>/dev/null");
            FILE *pp = popen(cmd, "r");
            if (pp) {
                char fnl[512], loc[512];
                for (int i = 0; i < n && fgets(fnl, sizeof fnl, pp) && fgets(loc, sizeof loc, pp); i++) {
                    fnl[strcspn(fnl, "\n")] = 0;
                    loc[strcspn(loc, ":\n")] = 0; /* the source file, without the line */
                    const char *file = strrchr(loc, '/') ? strrchr(loc, '/') + 1 : loc;
                    if (st[i].fn && strcmp(fnl, "??"))
                        snprintf(names[i], sizeof names[i], "%.60s (%.60s)", fnl, file);
                }
                pclose(pp);
            }
        }
    }
    double per = 1000.0 / (double)(steps > 0 ? steps : 1);
    fprintf(stderr, "bench_train: %d parts a task, per step (ms, one thread's CPU time): outside tasks %.3f\n", T,
            outside_ms);
    fprintf(stderr, "  %-40s %9s %10s %10s %10s\n", "task", "tasks", "all parts", "slowest", "imbalance");
    for (int i = 0; i < n; i++)
        fprintf(stderr, "  %-40s %9.1f %10.3f %10.3f %10.3f\n", names[i], (double)st[i].tasks / (double)(steps > 0 ? steps : 1),
                st[i].sum_s * per, st[i].max_s * per, (st[i].max_s - st[i].sum_s / T) * per);
}

int main(int argc, char **argv) {
    opts o;
    if (!parse_args(argc, argv, &o)) {
        usage();
        return 2;
    }
    al_pool *pool = NULL;
    if ((o.model_threads > 0 ? al_pool_new_serial(o.model_threads, &pool) : al_pool_new(o.threads, &pool)) != AL_OK) {
        fprintf(stderr, "bench_train: pool: %s\n", al_last_error());
        return 1;
    }
    result r;
    memset(&r, 0, sizeof r);
    r.planned = -1.0; /* the jobs that plan set it */
    int ok = 0;
    const job_kind kind = JOBS[o.jobi].kind;
    switch (kind) {
    case J_CNN: ok = job_cnn(&o, pool, &r); break;
    case J_LM: ok = job_lm(&o, pool, &r); break;
    case J_PERSONALIZE: ok = job_personalize(&o, pool, &r); break;
    case J_MNV2: ok = job_mnv2(&o, pool, &r); break;
    case J_FROZEN: ok = job_mnv2_frozen(&o, pool, &r, JOBS[o.jobi].int8); break;
    }
    char model[512] = "";
    if (ok && o.model_threads > 0) {
        /* the serial pool has no workers: the process's CPU time is this thread's */
        al_pool_stat st[64];
        int n = AL_MIN(al_pool_stats(pool, st, 64), 64);
        double sum = 0.0, crit = 0.0;
        long tasks = 0;
        for (int i = 0; i < n; i++) {
            sum += st[i].sum_s;
            crit += st[i].max_s;
            tasks += st[i].tasks;
        }
        /* the clock's readings around the parts are the instrument's, not
         * the step's: neither in the parts nor in the serial time */
        double timer = al_pool_timer_s(pool), cpu = r.cpu - timer;
        double outside = cpu - sum, pred = outside + crit, steps = (double)(r.steps > 0 ? r.steps : 1);
        print_task_stats(st, n, o.model_threads, r.steps, 1000.0 * outside / steps);
        snprintf(model, sizeof model,
                 ",\"model_threads\":%d,\"model_tasks_per_step\":%.1f,\"model_cpu_ms_per_step\":%.3f,"
                 "\"model_outside_ms_per_step\":%.3f,\"model_ms_per_step\":%.3f,\"model_speedup\":%.3f,"
                 "\"model_efficiency\":%.3f",
                 o.model_threads, (double)tasks / steps, 1000.0 * cpu / steps, 1000.0 * outside / steps,
                 1000.0 * pred / steps, pred > 0 ? cpu / pred : 0.0, pred > 0 ? cpu / (pred * o.model_threads) : 0.0);
    }
    al_pool_free(pool);
    if (!ok) return 1;
    double peak = peak_rss_mb();
    char cpu[128] = "";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[512];
        while (fgets(line, sizeof line, ci))
            if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
                const char *v = strchr(line, ':') + 1;
                while (*v == ' ' || *v == '\t') v++;
                size_t n = strcspn(v, "\n\"\\");
                if (n >= sizeof cpu) n = sizeof cpu - 1;
                memcpy(cpu, v, n);
                cpu[n] = 0;
                break;
            }
        fclose(ci);
    }
    printf("{\"impl\":\"autlearn\",\"job\":\"%s\",\"threads\":%d,\"batch\":%d,\"steps\":%lld,\"seconds\":%.4f,"
           "\"ms_per_step\":%.3f,\"peak_rss_mb\":%.1f,\"final_loss\":%.6f,\"samples\":%d,\"epochs\":%d,"
           "\"data\":\"%s\",\"process_peak_rss_mb\":%.1f,\"rss_reset\":%s,\"cpu_seconds\":%.4f,"
           "\"flops_per_step\":%.0f,\"base_rss_mb\":%.1f,\"rss_increase_mb\":%.1f,\"cpu\":\"%s\",\"cores\":%ld,"
           "\"page_faults\":%lld,\"forward_chunk\":%d,\"planned_mb\":%.1f%s}\n",
           o.job, o.threads, o.batch, r.steps, r.secs, 1000.0 * r.secs / (double)(r.steps > 0 ? r.steps : 1), peak,
           r.final_loss, o.samples, kind == J_PERSONALIZE ? 10 : o.epochs,
           kind == J_CNN || kind == J_PERSONALIZE ? (o.data ? "idx" : "synthetic") : "synthetic",
           r.load_peak > peak ? r.load_peak : peak, r.reset ? "true" : "false", r.cpu, r.flops_per_step,
           g_base_rss, g_base_rss >= 0 ? peak - g_base_rss : -1.0, cpu, sysconf(_SC_NPROCESSORS_ONLN), r.faults,
           chunk_setting(), r.planned, model);
    return 0;
}
