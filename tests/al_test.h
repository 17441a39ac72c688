/* Test helpers: assertion macros that are never compiled out, and the
 * finite-difference gradient check every layer test uses. */
#ifndef AL_TEST_H
#define AL_TEST_H

#include "train/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int al_test_failures;

#define CHECK(cond)                                                                                             \
    do {                                                                                                        \
        if (!(cond)) {                                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                           \
            al_test_failures++;                                                                                 \
        }                                                                                                       \
    } while (0)

#define CHECK_OK(expr)                                                                                          \
    do {                                                                                                        \
        al_status st_ = (expr);                                                                                 \
        if (st_ != AL_OK) {                                                                                     \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, al_status_name(st_),   \
                    al_last_error());                                                                           \
            al_test_failures++;                                                                                 \
        }                                                                                                       \
    } while (0)

/* Must succeed or the rest of the test is meaningless. */
#define REQUIRE_OK(expr)                                                                                        \
    do {                                                                                                        \
        al_status st_ = (expr);                                                                                 \
        if (st_ != AL_OK) {                                                                                     \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #expr, al_status_name(st_),   \
                    al_last_error());                                                                           \
            exit(1);                                                                                            \
        }                                                                                                       \
    } while (0)

#define CHECK_STATUS(expr, want)                                                                                \
    do {                                                                                                        \
        al_status st_ = (expr);                                                                                 \
        if (st_ != (want)) {                                                                                    \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, #expr,           \
                    al_status_name(st_), al_status_name(want), al_last_error());                                \
            al_test_failures++;                                                                                 \
        }                                                                                                       \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                   \
    do {                                                                                                        \
        double a_ = (double)(a), b_ = (double)(b);                                                              \
        if (!(fabs(a_ - b_) <= (tol))) {                                                                        \
            fprintf(stderr, "%s:%d: %s = %.9g, %s = %.9g, differ by more than %g\n", __FILE__, __LINE__, #a,   \
                    a_, #b, b_, (double)(tol));                                                                 \
            al_test_failures++;                                                                                 \
        }                                                                                                       \
    } while (0)

/* Ends main: prints the plain closing line and returns the exit code. */
#define TEST_END(name)                                                                                          \
    do {                                                                                                        \
        if (al_test_failures)                                                                                   \
            fprintf(stderr, "%s: %d check(s) failed\n", name, al_test_failures);                                \
        else                                                                                                    \
            fprintf(stderr, "%s: ok\n", name);                                                                  \
        return al_test_failures ? 1 : 0;                                                                        \
    } while (0)

/* A refusal as expected: status st is want and, when it is an error and msg
 * is not NULL, the last error message contains msg; else a failed check
 * naming what. Returns whether it was. */
static inline int al_test_expect(const char *what, al_status st, al_status want, const char *msg) {
    if (st != want) {
        fprintf(stderr, "%s: status %s, expected %s (%s)\n", what, al_status_name(st), al_status_name(want),
                st ? al_last_error() : "");
        al_test_failures++;
        return 0;
    }
    if (st && msg && !strstr(al_last_error(), msg)) {
        fprintf(stderr, "%s: message '%s' does not contain '%s'\n", what, al_last_error(), msg);
        al_test_failures++;
        return 0;
    }
    return 1;
}

/* ---- small synthetic data sets shared by the training tests ------------------ */

/* n 2-D points, class i % 3, centred at (0,3), (3,-2), (-3,-2), sd 0.7.
 * shift != 0 relabels class c as (c + shift) % 3 (a set that disagrees). */
static al_dataset *al_test_blobs(int n, uint64_t seed, int shift) {
    static const float cx[3] = {0.0f, 3.0f, -3.0f}, cy[3] = {3.0f, -2.0f, -2.0f};
    float *x = malloc(sizeof(float) * 2 * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    al_rng r;
    al_rng_seed(&r, seed, 9);
    for (int i = 0; i < n; i++) {
        int c = i % 3;
        x[2 * i] = cx[c] + 0.7f * al_rng_normal(&r);
        x[2 * i + 1] = cy[c] + 0.7f * al_rng_normal(&r);
        y[i] = (c + shift) % 3;
    }
    al_tensor s = {NULL, 1, {2, 0, 0, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &s, 1, 3, &d));
    free(x);
    free(y);
    return d;
}

/* n 1x8x8 images of 3 classes (top half, left half, checkerboard) over noise. */
static al_dataset *al_test_images(int n, uint64_t seed) {
    float *x = malloc(sizeof(float) * 64 * (size_t)n);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
    al_rng r;
    al_rng_seed(&r, seed, 3);
    for (int i = 0; i < n; i++) {
        int c = (int)al_rng_below(&r, 3);
        y[i] = c;
        for (int p = 0; p < 64; p++) {
            int row = p / 8, col = p % 8;
            float v = c == 0 ? (row < 4) : c == 1 ? (col < 4) : ((row + col) % 2);
            x[(size_t)i * 64 + p] = 0.7f * v + 0.3f * al_rng_uniform(&r);
        }
    }
    al_tensor xs = {NULL, 3, {1, 8, 8, 0}};
    al_dataset *d;
    REQUIRE_OK(al_dataset_from_arrays(x, y, n, &xs, 1, 3, &d));
    free(x);
    free(y);
    return d;
}

/* ---- models: inputs, outputs, memory plans ----------------------------------- */

/* n samples of m's input, N(0, 1) from the seed (the caller frees). */
static inline float *al_test_rand_input(const al_model *m, int n, uint64_t seed) {
    size_t k = (size_t)n * al_shape_numel(&m->in);
    float *x = malloc(sizeof(float) * k);
    al_rng r;
    al_rng_seed(&r, seed, 5);
    for (size_t i = 0; i < k; i++) x[i] = al_rng_normal(&r);
    return x;
}

/* m's output for n samples of x (the caller frees); a failed forward ends the test. */
static inline float *al_test_predict(al_model *m, const float *x, int n) {
    size_t k = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *y = malloc(sizeof(float) * k);
    REQUIRE_OK(al_model_predict(m, NULL, x, n, y));
    return y;
}

static inline double al_test_max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

/* The memory plan of m for `batch` passes al_memplan_check at every freeze
 * point, naive and planned, with and without the input's gradient (left
 * off on return); `what` names the model in a failure. */
/* A slim plan (p->slim > 0, al_chunk_slim) leaves out exactly the
 * buffers the chunked range [0, slim) keeps in its arena: the whole-batch
 * buffers of the tensors only that range reads (not the model output) and
 * its nodes' scratch and aux; it keeps one span for the arena. A whole
 * plan has no such span. */
static inline void al_test_slim_plan(const al_model *m, const al_memplan *p) {
    const int es = p->slim;
    int spans = 0, bad = 0;
    for (int k = 0; k < p->nbuf; k++) {
        const al_membuf *b = &p->buf[k];
        spans += b->kind == AL_MB_CHUNK;
        if ((b->kind == AL_MB_WS || b->kind == AL_MB_AUX) && b->node >= 0 && b->node < es) bad++;
    }
    for (int t = 0; t < m->ntensors && !p->naive; t++) {
        const int i = m->t_node[t], local = i < es && t != m->nnodes - 1 && m->t_last_reader[t] < es;
        bad += local != !al_memplan_find_port(p, AL_MB_ACT, i, m->t_port[t]);
    }
    if (bad || spans != (es > 0)) fprintf(stderr, "slim plan [0, %d): %d wrong buffers, %d spans\n", es, bad, spans);
    CHECK(bad == 0 && spans == (es > 0));
}

static inline void al_test_plans_valid(al_model *m, int batch, const char *what) {
    const int chunk = m->chunk;
    for (int naive = 0; naive < 2; naive++)
        for (int f = 0; f <= m->nnodes; f++)
            for (int ig = 0; ig < 2; ig++)
                for (int whole = 0; whole < 2; whole++) { /* chunks on (slim plans) and off */
                    m->want_input_grad = ig;
                    m->chunk = whole ? -1 : 0;
                    al_memplan p;
                    REQUIRE_OK(al_memplan_build_at(m, batch, naive, f, &p));
                    char why[256];
                    int bad = al_memplan_check(&p, why, sizeof why);
                    if (bad) fprintf(stderr, "%s naive=%d freeze=%d input_grad=%d: %s\n", what, naive, f, ig, why);
                    CHECK(!bad);
                    CHECK((!naive && !whole) || p.slim == 0);
                    al_test_slim_plan(m, &p);
                    al_memplan_free(&p);
                }
    m->want_input_grad = 0;
    m->chunk = chunk;
}

/* Batch-norm parameters and statistics away from 1 and 0 (weight in
 * [0.5, 1), bias and mean ~ N(0, 0.1^2), variance in [0.5, 1.5)), so that
 * folding and training them is exercised. */
/* The personalization job the graph tests run: defaults, batch 8, lr 0.05,
 * `epochs` epochs, frozen below `freeze`. */
static inline void al_test_job_config(al_personalize_config *c, int epochs, int freeze) {
    al_personalize_config_default(c);
    c->train.epochs = epochs;
    c->train.batch = 8;
    c->train.lr = 0.05;
    c->freeze = freeze;
}

/* The model file's autlearn.format_version (0 when unreadable). */
static inline uint32_t al_test_file_version(const char *path) {
    gguf_reader *r;
    uint32_t ver = 0;
    if (gguf_reader_open_file(path, 0, &r) != AL_OK) return 0;
    if (gguf_get_u32(r, "autlearn.format_version", &ver) != AL_OK) ver = 0;
    gguf_reader_free(r);
    return ver;
}

/* m and l (a copy read back) give bitwise the same outputs on 3 samples. */
static inline void al_test_same_outputs(al_model *m, al_model *l) {
    float *x = al_test_rand_input(m, 3, 7), *ya = al_test_predict(m, x, 3), *yb = al_test_predict(l, x, 3);
    CHECK(memcmp(ya, yb, sizeof(float) * 3 * al_shape_numel(&m->nodes[m->nnodes - 1].out)) == 0);
    free(x);
    free(ya);
    free(yb);
}

/* The personalization job c on d, stopped after 3 steps, checkpointed and
 * resumed by a new trainer on a fresh model (make()), ends with the weights
 * of the uninterrupted run `ref`. tag names the checkpoint file. */
static inline void al_test_resume_matches(al_model *(*make)(void), const al_dataset *d,
                                          const al_personalize_config *c, const al_model *ref, const char *tag) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/al-%s-ckpt.XXXXXX", tag);
    int fd = mkstemp(path);
    REQUIRE_OK(fd >= 0 ? AL_OK : AL_EIO);
    close(fd);
    al_model *s1 = make(), *s2 = make();
    al_trainer *t1, *t2;
    REQUIRE_OK(al_personalize_new(s1, NULL, d, NULL, NULL, c, &t1));
    int done = 0;
    al_train_report r;
    REQUIRE_OK(al_trainer_run_slice(t1, d, NULL, 3, 0, &done, &r));
    CHECK(!done);
    REQUIRE_OK(al_trainer_checkpoint(t1, path));
    al_trainer_free(t1);
    REQUIRE_OK(al_personalize_new(s2, NULL, d, NULL, NULL, c, &t2));
    REQUIRE_OK(al_trainer_resume(t2, path));
    int slices = 0;
    while (!done && slices < 1000) {
        REQUIRE_OK(al_trainer_run_slice(t2, d, NULL, 5, 0, &done, &r));
        slices++;
    }
    CHECK(done && memcmp(ref->wblock, s2->wblock, sizeof(float) * ref->nweights) == 0);
    al_trainer_free(t2);
    unlink(path);
    al_model_free(s1);
    al_model_free(s2);
}

static inline void al_test_randomize_bn(al_model *m, uint64_t seed) {
    al_rng r;
    al_rng_seed(&r, seed, 41);
    for (int i = 0; i < m->nnodes; i++) {
        al_node *nd = &m->nodes[i];
        if (nd->cfg.type != AL_L_BATCHNORM) continue;
        for (size_t c = 0; c < nd->params[0].n; c++) {
            nd->params[0].w[c] = 0.5f + 0.5f * al_rng_uniform(&r);
            nd->params[1].w[c] = 0.1f * al_rng_normal(&r);
            nd->params[2].w[c] = 0.1f * al_rng_normal(&r);
            nd->params[3].w[c] = 0.5f + al_rng_uniform(&r);
        }
    }
}

/* ---- finite-difference gradient check ---------------------------------------
 * The loss is L = sum_i r_i * y_i for a fixed random r, so dL/dy = r. Every
 * trained parameter and the input are perturbed by +-eps (central
 * differences, loss summed in double). Where the estimates with eps and
 * eps/2 disagree the point sits on a kink (ReLU at 0, a max-pool tie) and is
 * skipped; more than 5% skipped fails the check, as does any mismatch. */

typedef struct gc_opts {
    int batch;
    uint64_t seed;
    double eps, rtol, atol;
    int max_checks; /* per tensor; 0 = 150 */
    int check_input;
    al_pool *pool; /* the forwards' and the backward's threads (NULL: none) */
} gc_opts;

static double gc_loss(al_model *m, al_pool *pool, const float *x, const float *r, int n, uint64_t seed) {
    const float *y;
    al_rng_seed(&m->rng, seed, 0xd0);
    al_model_reset_state(m);
    if (al_model_forward_from(m, pool, 0, x, n, 1, &y) != AL_OK) {
        fprintf(stderr, "gradcheck: forward failed: %s\n", al_last_error());
        exit(1);
    }
    size_t k = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    double s = 0;
    for (size_t i = 0; i < k; i++) s += (double)r[i] * y[i];
    return s;
}

static int gc_compare(const char *what, float *v, const float *g, size_t cnt, al_model *m, const float *x,
                      const float *r, int n, const gc_opts *o) {
    int maxc = o->max_checks > 0 ? o->max_checks : 150;
    size_t step = cnt > (size_t)maxc ? cnt / (size_t)maxc : 1;
    int checked = 0, skipped = 0, bad = 0;
    for (size_t i = (cnt > (size_t)maxc ? 7 % step : 0); i < cnt; i += step) {
        float orig = v[i];
        double num[2];
        for (int t = 0; t < 2; t++) {
            double e = t ? o->eps / 2 : o->eps;
            v[i] = (float)(orig + e);
            double fp = gc_loss(m, o->pool, x, r, n, o->seed);
            v[i] = (float)(orig - e);
            double fm = gc_loss(m, o->pool, x, r, n, o->seed);
            /* the perturbation actually applied in float */
            double de = (double)(float)(orig + e) - (double)(float)(orig - e);
            num[t] = (fp - fm) / de;
        }
        v[i] = orig;
        double a = g[i];
        double tol = o->atol + o->rtol * fmax(fabs(a), fabs(num[0]));
        checked++;
        if (fabs(num[0] - num[1]) > tol) {
            skipped++; /* kink */
            continue;
        }
        if (fabs(a - num[0]) > tol) {
            if (bad < 5)
                fprintf(stderr, "gradcheck %s[%zu]: analytic %.6g numeric %.6g\n", what, i, a, num[0]);
            bad++;
        }
    }
    if (checked == 0) {
        fprintf(stderr, "gradcheck %s: nothing checked\n", what);
        return 1;
    }
    if (skipped * 20 > checked) {
        fprintf(stderr, "gradcheck %s: %d of %d points on kinks\n", what, skipped, checked);
        return 1;
    }
    return bad ? 1 : 0;
}

/* Returns the number of tensors whose gradients are off. */
static int gradcheck_spec(const char *spec, const gc_opts *o) {
    al_model *m;
    if (al_model_from_spec(spec, o->seed, &m) != AL_OK) {
        fprintf(stderr, "gradcheck: %s: %s\n", spec, al_last_error());
        return 1;
    }
    int n = o->batch;
    m->want_input_grad = o->check_input && !m->input_tokens;
    if (al_model_plan(m, n) != AL_OK) {
        fprintf(stderr, "gradcheck: plan: %s\n", al_last_error());
        al_model_free(m);
        return 1;
    }
    size_t xin = (size_t)n * al_shape_numel(&m->in);
    size_t yout = (size_t)n * al_shape_numel(&m->nodes[m->nnodes - 1].out);
    float *x = malloc(sizeof(float) * xin), *r = malloc(sizeof(float) * yout);
    al_rng rng;
    al_rng_seed(&rng, o->seed, 77);
    for (size_t i = 0; i < xin; i++)
        x[i] = m->input_tokens ? (float)al_rng_below(&rng, (uint32_t)m->nodes[0].cfg.vocab) : al_rng_normal(&rng);
    for (size_t i = 0; i < yout; i++) r[i] = al_rng_normal(&rng);
    al_model_zero_grad(m);
    (void)gc_loss(m, o->pool, x, r, n, o->seed);
    if (al_model_backward(m, o->pool, x, r, n) != AL_OK) {
        fprintf(stderr, "gradcheck: backward: %s\n", al_last_error());
        exit(1);
    }
    int fails = 0, tensors = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int p = 0; p < m->nodes[i].nparams; p++) {
            al_param *pr = &m->nodes[i].params[p];
            if (pr->is_state) continue;
            char what[96];
            snprintf(what, sizeof what, "%s: node %d %s", spec, i, pr->name);
            float *g = malloc(sizeof(float) * pr->n);
            memcpy(g, pr->g, sizeof(float) * pr->n);
            fails += gc_compare(what, pr->w, g, pr->n, m, x, r, n, o);
            free(g);
            tensors++;
        }
    if (m->want_input_grad) {
        float *g = malloc(sizeof(float) * xin);
        memcpy(g, m->dinput, sizeof(float) * xin);
        char what[96];
        snprintf(what, sizeof what, "%s: input", spec);
        fails += gc_compare(what, x, g, xin, m, x, r, n, o);
        free(g);
        tensors++;
    }
    if (tensors == 0) {
        fprintf(stderr, "gradcheck: %s has nothing to check\n", spec);
        fails++;
    }
    free(x);
    free(r);
    al_model_free(m);
    return fails;
}

/* gradcheck_spec over specs[0..n), each failing spec named and counted
 * as a failed check. */
static void gradcheck_specs(const char *const *specs, size_t n, const gc_opts *o) {
    for (size_t i = 0; i < n; i++) {
        int f = gradcheck_spec(specs[i], o);
        if (f) fprintf(stderr, "gradcheck failed%s: %s\n", o->pool ? " (with a pool)" : "", specs[i]);
        CHECK(f == 0);
    }
}

static gc_opts gc_defaults(void) {
    gc_opts o = {3, 42, 1e-2, 2e-2, 2e-3, 0, 1, NULL};
    return o;
}

#endif
