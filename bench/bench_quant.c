/* Frozen-forward time, float32 against int8, on the reference CNN: the
 * prefix below the default freeze point (node 12: the three convs and
 * dense 256) and below node 9 (the three conv blocks only), batch 32, 1
 * thread unless given; int8 for each int8 GEMM variant this CPU has. Prints
 * ms per batch and the float/int8 ratio measured in the same run. Not a
 * test: it asserts nothing about time.
 *   bench_quant [threads] [batch] */
#include "train/train.h"
#include "cloud/compile/quant.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static clockid_t clock_id = CLOCK_MONOTONIC;

static double now(void) {
    struct timespec t;
    clock_gettime(clock_id, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double time_prefix(al_model *m, al_pool *pool, int to, const float *x, int batch) {
    al_model_forward_range(m, pool, 0, to, x, batch, 0); /* plans, warms up */
    double best = 1e30;
    for (int t = 0; t < 5; t++) {
        double t0 = now();
        for (int r = 0; r < 10; r++) al_model_forward_range(m, pool, 0, to, x, batch, 0);
        double dt = (now() - t0) / 10;
        if (dt < best) best = dt;
    }
    return best * 1e3;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, batch = argc > 2 ? atoi(argv[2]) : 32;
    if (threads < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_quant [threads] [batch]\n");
        return 2;
    }
    al_pool *pool = NULL;
    if (threads > 1 && al_pool_new(threads, &pool)) return 1;
    if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
    float *x = malloc(sizeof(float) * (size_t)batch * 784);
    for (size_t i = 0; i < (size_t)batch * 784; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    printf("refcnn frozen forward, batch %d, %d thread(s), ms per batch; sgemm %s\n", batch, threads,
           al_gemm_variant_name(al_gemm_current()));
    printf("%-26s %10s %8s %10s %8s\n", "prefix", "float32", "int8", "int8 ms", "speed-up");
    static const int freezes[] = {12, 9};
    for (int f = 0; f < 2; f++) {
        al_model *fm, *qm;
        if (al_model_from_spec("refcnn", 1, &fm) || al_model_from_spec("refcnn", 1, &qm)) return 1;
        al_model_freeze(fm, freezes[f]);
        al_model_freeze(qm, freezes[f]);
        if (al_quantize_frozen(qm, NULL)) return 1;
        double tf = time_prefix(fm, pool, freezes[f], x, batch);
        for (int v = 0; v < AL_I8_NVARIANTS; v++) {
            if (!al_i8_force((al_i8_variant)v)) continue;
            double tq = time_prefix(qm, pool, freezes[f], x, batch);
            char name[64];
            snprintf(name, sizeof name, "nodes [0,%d) (%s)", freezes[f], f == 0 ? "default freeze" : "conv blocks");
            printf("%-26s %10.3f %8s %10.3f %7.2fx\n", name, tf, al_i8_variant_name((al_i8_variant)v), tq, tf / tq);
        }
        al_i8_force(AL_I8_AUTO);
        al_model_free(fm);
        al_model_free(qm);
    }
    free(x);
    al_pool_free(pool);
    return 0;
}
