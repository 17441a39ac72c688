/* Checkpoints, resume and rollback: a run broken up by checkpoints and
 * simulated crashes (the trainer and model thrown away, progress since the
 * last checkpoint lost) ends bit for bit where an uninterrupted run ends,
 * for SGD and Adam, with dropout, batch norm and early stopping, and for
 * personalization with its cache emptied; periodic checkpoints inside
 * al_trainer_run; refusals of another configuration, architecture, batch
 * source or data set and of damaged files (the trainer untouched); removal
 * of temporary files left by dead processes; and divergence: rollback, lower
 * learning rate, warning, counter, finite weights. */
#include "al_test.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "train/train.h"

#define SPEC "input 2; dense 16; batchnorm; relu; dropout 0.2; dense 3"
#define PLAIN "input 2; dense 16; relu; dense 3"

static char dir[256];
static int carry; /* models get carried LSTM state (al_model_set_carry_state) */

static al_model *model(const char *spec) {
    al_model *m;
    REQUIRE_OK(al_model_from_spec(spec, 1, &m));
    if (carry) al_model_set_carry_state(m, 1);
    return m;
}

static al_train_config config(al_optim_kind k) {
    al_train_config c;
    al_train_config_default(&c);
    c.optim = k;
    c.lr = k == AL_OPT_SGD ? 0.05 : 0.01;
    c.batch = 16;
    c.epochs = 6;
    c.seed = 7;
    c.sched = AL_SCHED_COSINE;
    return c;
}

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static float *run_ref(const char *spec, const al_train_config *c, const al_dataset *tr, const al_dataset *ev,
                      al_train_report *r, size_t *nw) {
    al_model *m = model(spec);
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, c, &t));
    REQUIRE_OK(al_trainer_run(t, tr, ev, r));
    float *w = malloc(sizeof(float) * m->nweights);
    memcpy(w, m->wblock, sizeof(float) * m->nweights);
    *nw = m->nweights;
    al_trainer_free(t);
    al_model_free(m);
    return w;
}

static void same_report(const al_train_report *a, const al_train_report *b) {
    CHECK(a->epochs_run == b->epochs_run && a->best_epoch == b->best_epoch);
    CHECK(a->final_loss == b->final_loss && a->final_train_acc == b->final_train_acc);
    CHECK(a->best_eval_loss == b->best_eval_loss && a->final_eval_acc == b->final_eval_acc);
    CHECK(a->steps == b->steps && a->samples == b->samples && a->stopped_early == b->stopped_early);
    CHECK(a->rollbacks == b->rollbacks && a->lr_scale == b->lr_scale);
}

/* Slices of 1..4 steps; after each, at random: a checkpoint, a crash
 * (everything since the last checkpoint is lost) or nothing. */
static void test_crash_resume(const char *spec, al_train_config c, const al_dataset *tr, const al_dataset *ev,
                              uint64_t seed) {
    /* with c.checkpoint_path set only the periodic checkpoints are used */
    int explicit = c.checkpoint_path == NULL;
    al_train_report rref, r;
    size_t nw;
    float *wref = run_ref(spec, &c, tr, ev, &rref, &nw);
    char path[300];
    if (explicit)
        path_in(path, sizeof path, "crash.ckpt");
    else
        snprintf(path, sizeof path, "%s", c.checkpoint_path);
    unlink(path);
    al_rng rng;
    al_rng_seed(&rng, seed, 1);
    al_model *m = model(spec);
    al_trainer *t;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    int done = 0, crashes = 0, checkpoints = 0, resumes = 0;
    while (!done) {
        REQUIRE_OK(al_trainer_run_slice(t, tr, ev, 1 + (long long)al_rng_below(&rng, 4), 0.0, &done, &r));
        if (done) break;
        uint32_t what = al_rng_below(&rng, 3);
        if (what == 0 && explicit) {
            REQUIRE_OK(al_trainer_checkpoint(t, path));
            checkpoints++;
        } else if (what == 1) {
            al_trainer_free(t);
            al_model_free(m);
            /* another initialisation: the checkpoint must supply every trained weight */
            m = model(spec);
            REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
            struct stat sb;
            if (stat(path, &sb) == 0) {
                REQUIRE_OK(al_trainer_resume(t, path));
                resumes++;
            }
            crashes++;
        }
    }
    CHECK(crashes >= 2 && (checkpoints >= 2 || !explicit) && resumes >= 1);
    CHECK(m->nweights == nw && memcmp(m->wblock, wref, sizeof(float) * nw) == 0);
    same_report(&r, &rref);
    al_trainer_pos p;
    al_trainer_get_pos(t, &p);
    CHECK(p.runs_done == 1 && !p.in_run && p.steps_done == rref.steps);
    al_trainer_free(t);
    al_model_free(m);
    free(wref);
    unlink(path);
}

static int cancel_after;
static int cancel_at(void *user, const al_epoch_info *info, int final) {
    (void)user;
    (void)info;
    return !final && --cancel_after == 0;
}

/* checkpoint_every inside al_trainer_run; a cancellation plays the crash. */
static void test_periodic(const al_dataset *tr) {
    al_train_config c = config(AL_OPT_ADAM);
    al_train_report rref, r;
    size_t nw;
    float *wref = run_ref(SPEC, &c, tr, NULL, &rref, &nw);
    char path[300];
    path_in(path, sizeof path, "periodic.ckpt");
    unlink(path);
    c.checkpoint_path = path;
    c.checkpoint_every = 4;
    c.progress = cancel_at;
    cancel_after = 23;
    al_model *m;
    al_trainer *t;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_run(t, tr, NULL, &r), AL_ECANCELED);
    al_trainer_free(t);
    al_trainer_pos p;
    REQUIRE_OK(al_checkpoint_info(path, &p));
    /* taken right after step 20, the last of epoch 2, before the epoch's end */
    CHECK(p.steps_done == 20 && p.in_run && p.runs_done == 0 && p.epoch == 1 && p.step == 10);
    /* the resumed process runs with other checkpoint settings: not part of the fingerprint */
    c.progress = NULL;
    c.checkpoint_every = 7;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_resume(t, path));
    REQUIRE_OK(al_trainer_run(t, tr, NULL, &r));
    CHECK(memcmp(m->wblock, wref, sizeof(float) * nw) == 0);
    same_report(&r, &rref);
    REQUIRE_OK(al_checkpoint_info(path, &p));
    CHECK(p.steps_done == rref.steps && !p.in_run && p.runs_done == 1);
    al_trainer_free(t);
    /* a finished checkpoint restores the final weights and starts no run */
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_resume(t, path));
    al_trainer_get_pos(t, &p);
    CHECK(!p.in_run && p.runs_done == 1);
    CHECK(memcmp(m->wblock, wref, sizeof(float) * nw) == 0);
    /* a checkpoint is not a model file */
    al_model *bad = NULL;
    CHECK_STATUS(al_model_load(path, &bad), AL_EFORMAT);
    CHECK(bad == NULL);
    al_trainer_free(t);
    al_model_free(m);
    free(wref);
    unlink(path);
}

static int read_all(const char *path, unsigned char **buf, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*n);
    size_t got = fread(*buf, 1, *n, f);
    fclose(f);
    return got == *n;
}

static void write_all(const char *path, const unsigned char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    REQUIRE_OK(f ? AL_OK : AL_EIO);
    CHECK(fwrite(buf, 1, n, f) == n);
    fclose(f);
}

static void test_refusals(const al_dataset *tr) {
    al_train_config c = config(AL_OPT_SGD);
    char path[300], bad[300];
    path_in(path, sizeof path, "ref.ckpt");
    path_in(bad, sizeof bad, "bad.ckpt");
    al_model *m;
    al_trainer *t;
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m));
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    int done;
    REQUIRE_OK(al_trainer_run_slice(t, tr, NULL, 13, 0.0, &done, NULL));
    REQUIRE_OK(al_trainer_checkpoint(t, path));
    al_trainer_free(t);
    float *w0 = malloc(sizeof(float) * m->nweights);

    /* another learning rate */
    al_train_config c2 = c;
    c2.lr = 0.1;
    REQUIRE_OK(al_trainer_new(m, NULL, &c2, &t));
    memcpy(w0, m->wblock, sizeof(float) * m->nweights);
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    CHECK(strstr(al_last_error(), "lr = ") != NULL && strstr(al_last_error(), "ref.ckpt") != NULL);
    CHECK(memcmp(w0, m->wblock, sizeof(float) * m->nweights) == 0);
    al_trainer_free(t);

    /* another architecture */
    al_model *m2;
    REQUIRE_OK(al_model_from_spec(PLAIN, 1, &m2));
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    CHECK(strstr(al_last_error(), "architecture") != NULL);
    al_trainer_free(t);
    al_model_free(m2);

    /* another freeze point */
    REQUIRE_OK(al_model_from_spec(SPEC, 1, &m2));
    REQUIRE_OK(al_model_freeze(m2, 2));
    REQUIRE_OK(al_trainer_new(m2, NULL, &c, &t));
    CHECK_STATUS(al_trainer_resume(t, path), AL_EINVAL);
    CHECK(strstr(al_last_error(), "freeze") != NULL);
    al_trainer_free(t);
    al_model_free(m2);

    /* other data: the resume works, continuing on them does not */
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_resume(t, path));
    al_dataset *other = al_test_blobs(tr->n, 99, 0), *relabeled = al_test_blobs(tr->n, 1, 1);
    CHECK_STATUS(al_trainer_run(t, other, NULL, NULL), AL_EINVAL);
    CHECK(strstr(al_last_error(), "differ") != NULL);
    CHECK_STATUS(al_trainer_run(t, relabeled, NULL, NULL), AL_EINVAL);
    CHECK_STATUS(al_trainer_run(t, tr, tr, NULL), AL_EINVAL); /* it had no evaluation set */
    al_trainer_pos p;
    al_trainer_get_pos(t, &p);
    CHECK(p.in_run && p.steps_done == 13);
    al_dataset_free(other);
    al_dataset_free(relabeled);
    al_trainer_free(t);

    /* damaged files: every flipped byte and every truncation is caught */
    unsigned char *buf;
    size_t n;
    REQUIRE_OK(read_all(path, &buf, &n) ? AL_OK : AL_EIO);
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    memcpy(w0, m->wblock, sizeof(float) * m->nweights);
    int caught = 0, tries = 0;
    for (size_t at = 0; at < n; at += 1 + n / 97) {
        buf[at] ^= 0x5a;
        write_all(bad, buf, tries % 2 ? n : at); /* a flipped byte, or cut at `at` */
        buf[at] ^= 0x5a;
        al_status st = al_trainer_resume(t, bad);
        tries++;
        caught += st == AL_ECHECKSUM || st == AL_EFORMAT || st == AL_EUNSUPPORTED;
        if (st == AL_OK) fprintf(stderr, "damaged checkpoint accepted (byte %zu)\n", at);
    }
    CHECK(caught == tries && tries > 50);
    CHECK(memcmp(w0, m->wblock, sizeof(float) * m->nweights) == 0);
    al_trainer_get_pos(t, &p);
    CHECK(!p.in_run && p.steps_done == 0);
    CHECK_STATUS(al_trainer_resume(t, "/nonexistent/dir/x.ckpt"), AL_EIO);
    free(buf);
    al_trainer_free(t);
    free(w0);
    al_model_free(m);
    unlink(path);
    unlink(bad);
}

/* n samples of shape 1 x h x w, floats from a counter's hash (labels i % 3). */
static al_dataset *hashed_set(int n, int h, int w) {
    size_t per = (size_t)h * (size_t)w;
    float *x = malloc(sizeof(float) * per * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    REQUIRE_OK(x && y ? AL_OK : AL_ENOMEM);
    for (size_t i = 0; i < per * (size_t)n; i++) x[i] = (float)((i * 2654435761u) % 1000003u) / 1000003.0f;
    for (int i = 0; i < n; i++) y[i] = i % 3;
    al_tensor s = {NULL, 3, {1, h, w, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &s, 1, 3, &d));
    free(x);
    free(y);
    return d;
}

/* The data fingerprints. Kind 1 keeps the values checkpoints written before
 * kind 2 hold (pinned: what the one-chain hash gave for these sets). Kind 2
 * gives the same value on no pool, 2 threads and serial pools of 3 to 100
 * parts (more parts than segments), for data of one segment with a tail of
 * under 32 bytes, of 4 segments that do not divide evenly, and of 64; and
 * it changes with one bit flipped at each segment's edges, with a label, and
 * with the shape of the same bytes. */
static void test_fingerprints(void) {
    al_dataset *a = al_test_blobs(150, 1, 0), *b = al_test_images(300, 5);
    CHECK(al_dataset_fingerprint(a, NULL, AL_FP_KIND_V1) == 0x49e7d4eac348420eULL);
    CHECK(al_dataset_fingerprint(b, NULL, AL_FP_KIND_V1) == 0x5498c9bcb254b252ULL);
    CHECK(al_dataset_fingerprint(a, NULL, AL_FP_KIND) != al_dataset_fingerprint(a, NULL, AL_FP_KIND_V1));
    al_dataset_free(a);
    al_dataset_free(b);
    al_pool *pools[5] = {NULL, NULL, NULL, NULL, NULL};
    REQUIRE_OK(al_pool_new(2, &pools[1]));
    REQUIRE_OK(al_pool_new_serial(3, &pools[2]));
    REQUIRE_OK(al_pool_new_serial(16, &pools[3]));
    REQUIRE_OK(al_pool_new_serial(100, &pools[4]));
    const int shapes[3][3] = {{7, 1, 3}, {333, 15, 15}, {1000, 40, 40}}; /* 84 bytes; 4 segments; 64 */
    for (int k = 0; k < 3; k++) {
        al_dataset *d = hashed_set(shapes[k][0], shapes[k][1], shapes[k][2]);
        uint64_t h0 = al_dataset_fingerprint(d, NULL, AL_FP_KIND), h1 = al_dataset_fingerprint(d, NULL, AL_FP_KIND_V1);
        for (int p = 1; p < 5; p++) CHECK(al_dataset_fingerprint(d, pools[p], AL_FP_KIND) == h0);
        size_t bytes = sizeof(float) * (size_t)d->n * al_shape_numel(&d->xs);
        unsigned char *xb = (unsigned char *)d->x;
        int nseg = (int)(bytes >> 16 < 1 ? 1 : bytes >> 16 > 64 ? 64 : bytes >> 16);
        size_t seg = ((bytes + (size_t)nseg - 1) / (size_t)nseg + 31) / 32 * 32;
        int missed = 0, flips = 0;
        for (size_t edge = 0; edge <= bytes; edge += seg) { /* both sides of each segment boundary */
            size_t at[2] = {edge ? edge - 1 : 0, edge < bytes ? edge : bytes - 1};
            for (int j = 0; j < 2; j++) {
                xb[at[j]] ^= 0x10;
                missed += al_dataset_fingerprint(d, pools[1], AL_FP_KIND) == h0;
                missed += al_dataset_fingerprint(d, NULL, AL_FP_KIND_V1) == h1;
                xb[at[j]] ^= 0x10;
                flips++;
            }
        }
        CHECK(missed == 0 && flips >= 2 * (nseg < 2 ? 1 : nseg));
        CHECK(al_dataset_fingerprint(d, pools[3], AL_FP_KIND) == h0);
        d->y[d->n - 1] ^= 1;
        CHECK(al_dataset_fingerprint(d, pools[3], AL_FP_KIND) != h0);
        d->y[d->n - 1] ^= 1;
        int t = d->xs.d[1];
        d->xs.d[1] = d->xs.d[2], d->xs.d[2] = t;
        CHECK(shapes[k][1] == shapes[k][2] || al_dataset_fingerprint(d, NULL, AL_FP_KIND) != h0);
        d->xs.d[2] = d->xs.d[1], d->xs.d[1] = t;
        CHECK(al_dataset_fingerprint(d, NULL, AL_FP_KIND) == h0);
        al_dataset_free(d);
    }
    for (int p = 1; p < 5; p++) al_pool_free(pools[p]);
}

/* A checkpoint of kind 2 says so (data.fp_kind = 2). One of kind 1 (as an
 * older build wrote it: no data.fp_kind key) resumes: the run continues on
 * the same data (checked with kind 1) and ends where an uninterrupted run
 * ends, and other data are refused. */
static void test_fp_kind_resume(const al_dataset *tr) {
    al_train_config c = config(AL_OPT_SGD);
    char path[300];
    path_in(path, sizeof path, "kind.ckpt");
    size_t nw;
    float *ref = run_ref(SPEC, &c, tr, NULL, NULL, &nw);
    for (int kind = AL_FP_KIND_V1; kind <= AL_FP_KIND; kind++) {
        al_model *m = model(SPEC);
        al_trainer *t;
        REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
        int done;
        REQUIRE_OK(al_trainer_run_slice(t, tr, NULL, 13, 0.0, &done, NULL));
        if (kind == AL_FP_KIND_V1) { /* the run as an older build began it */
            t->fp_kind = AL_FP_KIND_V1;
            t->train_fp = al_dataset_fingerprint(tr, NULL, AL_FP_KIND_V1);
        }
        REQUIRE_OK(al_trainer_checkpoint(t, path));
        al_trainer_free(t);
        al_model_free(m);
        gguf_reader *r;
        REQUIRE_OK(gguf_reader_open_file(path, GGUF_REQUIRE_CRC, &r));
        uint32_t k = 0;
        if (kind == AL_FP_KIND_V1)
            CHECK(gguf_find_kv(r, "autlearn.ckpt.data.fp_kind") < 0);
        else
            CHECK(gguf_get_u32(r, "autlearn.ckpt.data.fp_kind", &k) == AL_OK && k == AL_FP_KIND);
        gguf_reader_free(r);
        /* other data are refused */
        m = model(SPEC);
        REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
        REQUIRE_OK(al_trainer_resume(t, path));
        al_dataset *other = al_test_blobs(tr->n, 99, 0);
        CHECK_STATUS(al_trainer_run(t, other, NULL, NULL), AL_EINVAL);
        CHECK(strstr(al_last_error(), "differ") != NULL);
        al_dataset_free(other);
        /* the same data (another copy) finish the run as the uninterrupted one */
        al_dataset *copy = al_test_blobs(tr->n, 1, 0);
        REQUIRE_OK(al_trainer_run(t, copy, NULL, NULL));
        CHECK(nw == m->nweights && memcmp(ref, m->wblock, sizeof(float) * nw) == 0);
        al_dataset_free(copy);
        al_trainer_free(t);
        al_model_free(m);
    }
    free(ref);
    unlink(path);
}

/* A temporary file of a dead process goes at the next save; a live one's stays. */
static void test_stale_temps(void) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    REQUIRE_OK(child > 0 ? AL_OK : AL_EIO);
    int status;
    waitpid(child, &status, 0);
    char path[300], dead[400], live[400], other[400];
    path_in(path, sizeof path, "stale.ckpt");
    snprintf(dead, sizeof dead, "%s.tmp.%ld.3", path, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld.1", path, (long)getppid());
    snprintf(other, sizeof other, "%s.tmpx.%ld.3", path, (long)child);
    write_all(dead, (const unsigned char *)"x", 1);
    write_all(live, (const unsigned char *)"x", 1);
    write_all(other, (const unsigned char *)"x", 1);
    al_model *m;
    al_trainer *t;
    REQUIRE_OK(al_model_from_spec(PLAIN, 1, &m));
    al_train_config c = config(AL_OPT_SGD);
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    REQUIRE_OK(al_trainer_checkpoint(t, path));
    struct stat sb;
    CHECK(stat(dead, &sb) != 0);
    CHECK(stat(live, &sb) == 0);
    CHECK(stat(other, &sb) == 0);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    al_trainer_pos p;
    REQUIRE_OK(al_checkpoint_info(path, &p));
    CHECK(!p.in_run && p.steps_done == 0);
    unlink(live);
    unlink(other);
    unlink(path);
    al_trainer_free(t);
    al_model_free(m);
}

typedef struct logbuf {
    int warnings;
    char last[1024];
} logbuf;
static void log_sink(void *user, al_log_level level, const char *msg) {
    logbuf *b = user;
    if (level >= AL_LOG_WARN && strstr(msg, "rolled back")) {
        b->warnings++;
        snprintf(b->last, sizeof b->last, "%s", msg);
    }
}

static int all_finite(const al_model *m) {
    for (size_t i = 0; i < m->nweights; i++)
        if (!isfinite(m->wblock[i])) return 0;
    return 1;
}

static void test_rollback(const al_dataset *tr) {
    logbuf lb = {0};
    al_set_log(log_sink, &lb, AL_LOG_WARN);
    al_train_config c = config(AL_OPT_SGD);
    c.lr = 1e6;
    c.sched = AL_SCHED_CONST;
    c.max_rollbacks = 12;
    al_model *m;
    al_trainer *t;
    REQUIRE_OK(al_model_from_spec(PLAIN, 1, &m));
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    al_train_report r;
    REQUIRE_OK(al_trainer_run(t, tr, NULL, &r));
    CHECK(r.rollbacks >= 1 && r.rollbacks <= 12 && lb.warnings == r.rollbacks);
    CHECK(r.lr_scale < 1.0 && fabs(r.lr_scale - pow(0.1, r.rollbacks)) < 1e-12 * r.lr_scale * 10);
    CHECK(strstr(lb.last, "lowered the learning rate") != NULL);
    CHECK(all_finite(m) && isfinite(r.final_loss));
    CHECK(r.epochs_run == c.epochs && r.steps == (long long)c.epochs * ((tr->n + 15) / 16));
    fprintf(stderr, "lr 1e6: %d rollbacks, lr x%g, final loss %g, train acc %.3f\n", r.rollbacks, r.lr_scale,
            r.final_loss, r.final_train_acc);
    al_trainer_free(t);

    /* with periodic checkpoints and crashes the diverging run still ends bit for bit the same */
    char path[300];
    path_in(path, sizeof path, "diverge.ckpt");
    c.checkpoint_path = path;
    c.checkpoint_every = 3;
    c.epochs = 3;
    test_crash_resume(PLAIN, c, tr, NULL, 5);

    /* no rollbacks allowed: the old behaviour */
    c = config(AL_OPT_SGD);
    c.lr = 1e30;
    c.max_rollbacks = 0;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_run(t, tr, NULL, &r), AL_ENUMERIC);
    CHECK(strstr(al_last_error(), "NaN") || strstr(al_last_error(), "Inf"));
    al_trainer_free(t);
    /* past the bound: AL_ENUMERIC, and the model holds the last good weights */
    al_model_free(m);
    REQUIRE_OK(al_model_from_spec(PLAIN, 1, &m));
    float *w0 = malloc(sizeof(float) * m->nweights);
    memcpy(w0, m->wblock, sizeof(float) * m->nweights);
    lb.warnings = 0;
    c.max_rollbacks = 2;
    REQUIRE_OK(al_trainer_new(m, NULL, &c, &t));
    CHECK_STATUS(al_trainer_run(t, tr, NULL, &r), AL_ENUMERIC);
    CHECK(strstr(al_last_error(), "after 2 rollbacks") != NULL);
    CHECK(lb.warnings == 2 && r.rollbacks == 2);
    CHECK(all_finite(m) && memcmp(w0, m->wblock, sizeof(float) * m->nweights) == 0);
    free(w0);
    al_trainer_free(t);
    al_model_free(m);
    al_set_log(NULL, NULL, AL_LOG_WARN);
}

/* ---- personalization ------------------------------------------------------------- */

#define PSPEC "input 1x8x8; flatten; dense 24; relu; dense 16; relu; dense 3"

static void test_personalize_resume(void) {
    al_dataset *d = al_test_images(40, 1);
    al_personalize_config c;
    al_personalize_config_default(&c);
    c.train.epochs = 4;
    c.train.batch = 8;
    c.train.lr = 0.05;
    c.freeze = 3;
    c.aug_variants = 2;
    c.aug.noise = 0.05f;
    al_model *ref, *m;
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &ref));
    al_cache *cache;
    REQUIRE_OK(al_cache_new(64 << 20, NULL, &cache));
    al_personalize_report rr, r;
    REQUIRE_OK(al_personalize(ref, NULL, d, NULL, cache, &c, NULL, &rr));

    char path[300];
    path_in(path, sizeof path, "pers.ckpt");
    unlink(path);
    c.train.checkpoint_path = path;
    c.train.checkpoint_every = 3;
    c.train.progress = cancel_at;
    cancel_after = 11;
    c.resume = 1; /* no file yet: a fresh start */
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &m));
    al_cache_clear(cache);
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, cache, &c, NULL, &r), AL_ECANCELED);
    al_model_free(m);
    al_trainer_pos p;
    REQUIRE_OK(al_checkpoint_info(path, &p));
    CHECK(p.steps_done == 9 && p.in_run);
    /* the "restarted device": a new model and no cache at all */
    c.train.progress = NULL;
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &m));
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(r.train.steps == rr.train.steps && r.train.final_loss == rr.train.final_loss);
    al_model_free(m);
    /* again on the finished checkpoint: the same weights, nothing trained */
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &m));
    REQUIRE_OK(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r));
    CHECK(memcmp(m->wblock, ref->wblock, sizeof(float) * m->nweights) == 0);
    CHECK(r.suffix_samples == 0 && r.train.steps == rr.train.steps);
    al_model_free(m);
    /* another augmentation: refused */
    c.aug_variants = 3;
    REQUIRE_OK(al_model_from_spec(PSPEC, 11, &m));
    CHECK_STATUS(al_personalize(m, NULL, d, NULL, NULL, &c, NULL, &r), AL_EINVAL);
    CHECK(strstr(al_last_error(), "batch source") != NULL);
    al_model_free(m);
    al_model_free(ref);
    al_cache_free(cache);
    al_dataset_free(d);
    unlink(path);
}

/* Token sequences whose label is the next token: a tiny language model whose
 * LSTM carries h and c from batch to batch, so a resume must restore them. */
static void test_lstm_carry(void) {
    enum { N = 60, T = 6, V = 12 };
    float x[N * T];
    int32_t y[N * T];
    al_rng r;
    al_rng_seed(&r, 4, 4);
    for (int i = 0; i < N; i++) {
        int a = (int)al_rng_below(&r, V);
        for (int t = 0; t < T; t++) {
            x[i * T + t] = (float)a;
            a = (a * 5 + 3) % V;
            y[i * T + t] = a;
        }
    }
    al_tensor xs = {NULL, 1, {T, 0, 0, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, N, &xs, T, V, &d));
    al_train_config c = config(AL_OPT_ADAM);
    c.batch = 8;
    c.epochs = 5;
    carry = 1;
    test_crash_resume("tokens 6; embedding 8 vocab=12; lstm 10; dense 12", c, d, NULL, 6);
    carry = 0;
    al_dataset_free(d);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/al-ckpt.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    REQUIRE_OK(mkdtemp(dir) ? AL_OK : AL_EIO);
    al_dataset *tr = al_test_blobs(150, 1, 0), *ev = al_test_blobs(60, 2, 0);
    test_crash_resume(SPEC, config(AL_OPT_SGD), tr, NULL, 1);
    test_crash_resume(SPEC, config(AL_OPT_ADAM), tr, NULL, 2);
    al_train_config c = config(AL_OPT_ADAMW);
    c.patience = 2;
    c.epochs = 12;
    test_crash_resume(SPEC, c, tr, ev, 3);
    c = config(AL_OPT_SGD);
    c.checkpoint_every = 5; /* rollback points at checkpoints, in memory only */
    c.nesterov = 1;
    test_crash_resume(SPEC, c, tr, ev, 4);
    test_periodic(tr);
    test_refusals(tr);
    test_fingerprints();
    test_fp_kind_resume(tr);
    test_stale_temps();
    test_rollback(tr);
    test_personalize_resume();
    test_lstm_carry();
    al_dataset_free(tr);
    al_dataset_free(ev);
    rmdir(dir);
    TEST_END("test_checkpoint");
}
