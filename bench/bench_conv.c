/* Conv forward timing per kernel: the reference CNN's three conv layers
 * (input 1x28x28, 32x14x14, 64x7x7; 3x3, padding 1), batch 32, 1 thread
 * unless given, as a table of ms per batch for im2col, direct, winograd and
 * the int8 forward of the frozen, quantized layer, with the ratio of each
 * to im2col in the same run and the kernel the cost model picks. Not a
 * test: it asserts nothing about time. CPU time of this thread for 1
 * thread (a busy machine disturbs it less), wall time otherwise.
 *   bench_conv [threads] [batch] */
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

typedef struct layer {
    int C, HW, F;
} layer;

/* kind: 0..2 the float algos, 3 int8; returns ms per batch (best of 5) or -1 */
static double run(const layer *L, int kind, int batch, al_pool *pool, const float *x) {
    if (kind < 3 && !al_conv_algo_applies((al_conv_algo)kind, 3, 1)) return -1.0;
    al_shape in = {3, {L->C, L->HW, L->HW}};
    al_layer_cfg c = {0};
    c.type = AL_L_CONV2D;
    c.units = L->F;
    c.k = 3;
    c.pad = 1;
    c.bias = 1;
    al_conv_force(kind < 3 ? (al_conv_algo)kind : AL_CONV_AUTO);
    al_model *m;
    if (al_model_build(&in, 0, &c, 1, &m)) return -1.0;
    al_conv_force(AL_CONV_AUTO);
    al_model_init_weights(m, 1);
    if (kind == 3) {
        al_model_freeze(m, 1);
        if (al_quantize_frozen(m, NULL)) return -1.0;
    }
    const float *y;
    al_model_forward_from(m, pool, 0, x, batch, 0, &y); /* plans, warms up */
    double flop = 2.0 * batch * L->F * L->HW * L->HW * 9.0 * L->C, best = 1e30;
    int reps = (int)(3e8 / flop) + 1;
    for (int t = 0; t < 5; t++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) al_model_forward_from(m, pool, 0, x, batch, 0, &y);
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    al_model_free(m);
    return best * 1e3;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, batch = argc > 2 ? atoi(argv[2]) : 32;
    if (threads < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_conv [threads] [batch]\n");
        return 2;
    }
    al_pool *pool = NULL;
    if (threads > 1 && al_pool_new(threads, &pool)) return 1;
    if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
    static const layer layers[] = {{1, 28, 32}, {32, 14, 64}, {64, 7, 128}};
    float *x = malloc(sizeof(float) * (size_t)batch * 32 * 28 * 28);
    for (size_t i = 0; i < (size_t)batch * 32 * 28 * 28; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
    printf("conv forward, batch %d, %d thread(s), ms per batch (ratio to im2col); sgemm %s, int8 gemm %s\n", batch,
           threads, al_gemm_variant_name(al_gemm_current()), "auto");
    printf("%-18s %16s %16s %16s %16s  %s\n", "layer", "im2col", "direct", "winograd", "int8 (im2col)", "cost model");
    for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
        const layer *L = &layers[l];
        char name[32];
        snprintf(name, sizeof name, "%dx%dx%d->%d", L->C, L->HW, L->HW, L->F);
        printf("%-18s", name);
        double base = 0.0;
        for (int k = 0; k < 4; k++) {
            double ms = run(L, k, batch, pool, x);
            if (k == 0) base = ms;
            if (ms < 0)
                printf(" %16s", "-");
            else
                printf(" %8.3f (%4.2fx)", ms, base / ms);
        }
        printf("  %s\n", al_conv_algo_name(al_conv_choose(L->C, L->HW, L->HW, L->F, 3, 1, 1)));
    }
    free(x);
    al_pool_free(pool);
    return 0;
}
