/* Depthwise and 1x1 conv timing per kernel variant: the depthwise 3x3 and
 * a few 1x1 layers of MobileNetV2-0.5 at 96x96 input, batch 32, forward and
 * backward (input, weight and bias gradients), ms per batch, best of 5, with
 * the speed-up of each variant over the plain-C reference in the same run
 * (depthwise: al_dw_force; 1x1, a GEMM: al_gemm_force). Not a test: it
 * asserts nothing about time. CPU time of this thread for 1 thread, wall
 * time otherwise.
 *   bench_dwconv [threads] [batch] */
#include "train/train.h"
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

/* ms per batch of forward (what = 0) or backward (1), best of 5 */
static double run(const char *spec, int batch, al_pool *pool, const float *x, const float *dl, int what) {
    al_model *m;
    if (al_model_from_spec(spec, 1, &m)) return -1.0;
    m->want_input_grad = 1;
    const float *y;
    if (al_model_forward_from(m, pool, 0, x, batch, 1, &y)) return -1.0; /* plans, warms up */
    double macs = (double)batch * (double)al_model_macs(m), best = 1e30;
    int reps = (int)(2e7 / macs) + 1;
    for (int t = 0; t < 5; t++) {
        double t0 = now();
        for (int r = 0; r < reps; r++) {
            if (what == 0)
                al_model_forward_from(m, pool, 0, x, batch, 1, &y);
            else
                al_model_backward(m, pool, x, dl, batch);
        }
        double dt = (now() - t0) / reps;
        if (dt < best) best = dt;
    }
    al_model_free(m);
    return best * 1e3;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, batch = argc > 2 ? atoi(argv[2]) : 32;
    if (threads < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_dwconv [threads] [batch]\n");
        return 2;
    }
    al_pool *pool = NULL;
    if (threads > 1 && al_pool_new(threads, &pool)) return 1;
    if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
    size_t big = (size_t)batch * 160 * 48 * 48; /* largest input or output of the layers below */
    float *x = malloc(sizeof(float) * big), *dl = malloc(sizeof(float) * big);
    if (!x || !dl) return 1;
    for (size_t i = 0; i < big; i++) {
        x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
        dl[i] = (float)((i * 40503u) % 997) / 997.0f - 0.5f;
    }
    /* depthwise 3x3 layers of MobileNetV2-0.5 at 96x96: channels, size, stride */
    static const int dws[][3] = {{16, 48, 1}, {48, 48, 2}, {96, 24, 1}, {96, 24, 2}, {96, 12, 1},
                                 {96, 12, 2}, {192, 6, 1}, {288, 6, 2}, {480, 3, 1}};
    printf("depthwise 3x3, batch %d, %d thread(s), ms per batch (speed-up over ref); automatic choice %s\n", batch,
           threads, al_dw_variant_name(al_dw_current()));
    printf("%-16s %-8s", "layer", "pass");
    for (int v = 0; v < AL_DW_NVARIANTS; v++)
        if (al_dw_available((al_dw_variant)v)) printf(" %17s", al_dw_variant_name((al_dw_variant)v));
    printf("\n");
    double tot[2][AL_DW_NVARIANTS] = {{0}};
    for (size_t l = 0; l < sizeof dws / sizeof dws[0]; l++) {
        char spec[96], name[32];
        snprintf(spec, sizeof spec, "input %dx%dx%d; dwconv 3 s=%d p=1", dws[l][0], dws[l][1], dws[l][1], dws[l][2]);
        snprintf(name, sizeof name, "%dx%dx%d s%d", dws[l][0], dws[l][1], dws[l][1], dws[l][2]);
        for (int what = 0; what < 2; what++) {
            printf("%-16s %-8s", name, what ? "backward" : "forward");
            double base = 0.0;
            for (int v = 0; v < AL_DW_NVARIANTS; v++) {
                if (!al_dw_force((al_dw_variant)v)) continue;
                double ms = run(spec, batch, pool, x, dl, what);
                if (v == 0) base = ms;
                tot[what][v] += ms;
                printf(" %8.3f (%5.2fx)", ms, base / ms);
            }
            al_dw_force(AL_DW_AUTO);
            printf("\n");
        }
    }
    for (int what = 0; what < 2; what++) {
        printf("%-16s %-8s", "all", what ? "backward" : "forward");
        for (int v = 0; v < AL_DW_NVARIANTS; v++)
            if (al_dw_available((al_dw_variant)v)) printf(" %8.3f (%5.2fx)", tot[what][v], tot[what][0] / tot[what][v]);
        printf("\n");
    }
    /* 1x1 layers: in channels, out channels, size */
    static const int pws[][3] = {{8, 48, 48}, {48, 16, 24}, {16, 96, 24}, {96, 16, 12}, {32, 192, 6}, {192, 48, 6},
                                 {480, 80, 3}, {160, 1280, 3}};
    printf("\n1x1 conv, batch %d, %d thread(s), ms per batch (speed-up over the reference GEMM); automatic %s\n",
           batch, threads, al_gemm_variant_name(al_gemm_current()));
    printf("%-16s %-8s", "layer", "pass");
    for (int v = 0; v < AL_GEMM_NVARIANTS; v++)
        if (al_gemm_available((al_gemm_variant)v)) printf(" %17s", al_gemm_variant_name((al_gemm_variant)v));
    printf("\n");
    for (size_t l = 0; l < sizeof pws / sizeof pws[0]; l++) {
        char spec[96], name[32];
        snprintf(spec, sizeof spec, "input %dx%dx%d; conv %d k=1", pws[l][0], pws[l][2], pws[l][2], pws[l][1]);
        snprintf(name, sizeof name, "%d->%d @%d", pws[l][0], pws[l][1], pws[l][2]);
        for (int what = 0; what < 2; what++) {
            printf("%-16s %-8s", name, what ? "backward" : "forward");
            double base = 0.0;
            for (int v = 0; v < AL_GEMM_NVARIANTS; v++) {
                if (!al_gemm_force((al_gemm_variant)v)) continue;
                double ms = run(spec, batch, pool, x, dl, what);
                if (v == 0) base = ms;
                printf(" %8.3f (%5.2fx)", ms, base / ms);
            }
            al_gemm_force(AL_GEMM_AUTO);
            printf("\n");
        }
    }
    free(x);
    free(dl);
    al_pool_free(pool);
    return 0;
}
