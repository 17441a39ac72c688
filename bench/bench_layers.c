/* Per-layer profile of one training step: forward and backward time of every
 * node of a built-in model (default the reference CNN) at a batch, plus the
 * loss, so the slow layer of a step is visible without a profiler.
 * Not a test: it asserts nothing about time.
 *
 *   bench_layers [model=refcnn] [batch=32] [threads=1] [reps=20]
 *
 * Prints, per node, the median over reps of forward and backward
 * milliseconds and the GFLOP/s of the layer's multiply-adds (forward: macs;
 * backward: 2x macs for a trainable node with an input gradient, 1x for the
 * lowest node, which computes no input gradient). */
#include "train/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One thread: this thread's CPU time, which other load on the machine
 * disturbs less than wall time. */
static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "refcnn";
    int batch = argc > 2 ? atoi(argv[2]) : 32, threads = argc > 3 ? atoi(argv[3]) : 1;
    int reps = argc > 4 ? atoi(argv[4]) : 20;
    if (batch <= 0 || threads <= 0 || reps <= 0) {
        fprintf(stderr, "usage: bench_layers [model] [batch] [threads] [reps]\n");
        return 2;
    }
    if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
    al_model *m = NULL;
    al_pool *pool = NULL;
    if (al_model_from_spec(name, 1, &m) != AL_OK || al_pool_new(threads, &pool) != AL_OK ||
        al_model_plan(m, batch) != AL_OK) {
        fprintf(stderr, "bench_layers: %s\n", al_last_error());
        return 1;
    }
    /* nodes are timed one at a time on the previous node's output: a chain
     * only (a graph's second operands are bound by the model's executor) */
    for (int i = 0; i < m->nnodes; i++) {
        const al_node *nd = &m->nodes[i];
        if (nd->cfg.back != 0 || al_cfg_nsrc(&nd->cfg) > 0 || al_cfg_nout(&nd->cfg) > 1 || nd->cfg.in_port != 0) {
            fprintf(stderr,
                    "bench_layers: node %d (%s) reads an earlier node's output or has several: this tool times "
                    "chains only; time a chain of the layers (e.g. one block without its add), or use "
                    "bench_train --model-threads for a graph\n",
                    i, nd->vt->name);
            return 2;
        }
    }
    size_t xi = al_shape_numel(&m->in), yo = al_shape_numel(&m->nodes[m->nnodes - 1].out);
    int V = 10, rows = batch;
    if (m->input_tokens) {
        rows = batch * m->in.d[0];
        V = (int)(yo / (size_t)m->in.d[0]);
    } else {
        V = (int)yo;
    }
    float *x = malloc(sizeof(float) * xi * (size_t)batch), *dl = malloc(sizeof(float) * yo * (size_t)batch);
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)rows);
    int L = m->nnodes;
    double *tf = calloc((size_t)(L + 1) * (size_t)reps, sizeof(double));
    double *tb = calloc((size_t)(L + 1) * (size_t)reps, sizeof(double));
    if (!x || !dl || !tg || !tf || !tb) return 1;
    for (size_t i = 0; i < xi * (size_t)batch; i++)
        x[i] = m->input_tokens ? (float)((i * 7919u) % (unsigned)m->nodes[0].cfg.vocab) : (float)((i * 37u) % 255u) / 255.0f;
    for (int i = 0; i < rows; i++) tg[i] = (int32_t)((i * 13u) % (unsigned)V);
    for (int r = -2; r < reps; r++) { /* two warm-up steps */
        al_model_zero_grad(m);
        for (int i = 0; i < L; i++) {
            al_node *nd = &m->nodes[i];
            al_exec e = {pool, &m->rng, 1, nd->ws, 0, 0.0f, 0.0f};
            double t0 = now();
            if (nd->vt->forward(nd, &e, i == 0 ? x : m->act[i - 1], m->act[i], batch) != AL_OK) {
                fprintf(stderr, "bench_layers: node %d (%s): %s\n", i, nd->vt->name, al_last_error());
                return 1;
            }
            if (r >= 0) tf[(size_t)i * reps + r] = now() - t0;
        }
        double t0 = now(), ls;
        long cnt, cor;
        al_softmax_ce(m->act[L - 1], tg, rows, V, 1.0f / (float)rows, dl, &ls, &cnt, &cor);
        if (r >= 0) tf[(size_t)L * reps + r] = now() - t0;
        for (int i = L - 1; i >= 0; i--) {
            al_node *nd = &m->nodes[i];
            al_exec e = {pool, &m->rng, 1, nd->ws, 0, 0.0f, 0.0f};
            t0 = now();
            nd->vt->backward(nd, &e, i == 0 ? x : m->act[i - 1], m->act[i], i == L - 1 ? dl : m->dact[i],
                             i > 0 ? m->dact[i - 1] : NULL, batch);
            if (r >= 0) tb[(size_t)i * reps + r] = now() - t0;
        }
    }
    printf("%s, batch %d, %d thread(s), median of %d (%s); GEMM %s\n", name, batch, threads, reps,
           threads == 1 ? "thread CPU time" : "wall time",
           al_gemm_variant_name(al_gemm_current()));
    printf("%-4s %-10s %10s %8s %10s %8s\n", "node", "layer", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s");
    double sf = 0, sb = 0;
    for (int i = 0; i <= L; i++) {
        qsort(tf + (size_t)i * reps, (size_t)reps, sizeof(double), cmp_d);
        qsort(tb + (size_t)i * reps, (size_t)reps, sizeof(double), cmp_d);
        double f = tf[(size_t)i * reps + reps / 2], b = tb[(size_t)i * reps + reps / 2];
        sf += f;
        sb += b;
        double macs = i < L && m->nodes[i].vt->macs ? (double)m->nodes[i].vt->macs(&m->nodes[i]) * batch : 0;
        printf("%-4d %-10s %10.3f %8.1f %10.3f %8.1f\n", i, i < L ? m->nodes[i].vt->name : "softmax_ce", 1e3 * f,
               f > 0 ? 2 * macs / f * 1e-9 : 0, 1e3 * b, b > 0 ? (i > 0 ? 4 : 2) * macs / b * 1e-9 : 0);
    }
    printf("total: forward %.3f ms, backward %.3f ms, step (no optimizer) %.3f ms\n", 1e3 * sf, 1e3 * sb,
           1e3 * (sf + sb));
    free(x);
    free(dl);
    free(tg);
    free(tf);
    free(tb);
    al_model_free(m);
    al_pool_free(pool);
    return 0;
}
