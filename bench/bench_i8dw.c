/* int8 against float depthwise conv, per layer of MobileNetV2-0.5's frozen
 * part at 96x96 (torchvision's features[:15]: the 3x3 depthwise convs, C
 * channels of H x H, stride s, padding 1), batch B: ms per batch, best of
 * 7, this thread's CPU time, the planes with the fused ReLU6 as the compiled
 * model runs them. float: al_dw_forward_planes on floats; int8:
 * al_i8dw_planes from int8 input to int8 output at static scales (the int8
 * chain's form). The last line weights each shape by how many layers of
 * the frozen part have it. Not a test: it asserts nothing about time.
 *   bench_i8dw [batch]   (default 32) */
#include "kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int B = argc > 1 ? atoi(argv[1]) : 32;
    if (B < 1 || B > 4096) {
        fprintf(stderr, "usage: bench_i8dw [batch 1..4096]\n");
        return 2;
    }
    /* C, H, stride, layers of that shape */
    static const int L[][4] = {{16, 48, 1, 1}, {48, 48, 2, 1}, {96, 24, 1, 1}, {96, 24, 2, 1}, {96, 12, 1, 2},
                               {96, 12, 2, 1}, {192, 6, 1, 4}, {288, 6, 1, 2}, {288, 6, 2, 1}};
    double tf = 0.0, ti = 0.0;
    printf("%-18s %9s %9s %6s\n", "layer (C, H, s)", "float ms", "int8 ms", "ratio");
    for (size_t l = 0; l < sizeof L / sizeof L[0]; l++) {
        int C = L[l][0], H = L[l][1], s = L[l][2], Ho = (H + 2 - 3) / s + 1;
        al_dw_geom g = {H, H, 3, s, 1, Ho, Ho};
        long np = (long)B * C;
        size_t in = (size_t)np * H * H, out = (size_t)np * Ho * Ho;
        float *x = malloc(sizeof(float) * in), *y = malloc(sizeof(float) * out), *w = malloc(sizeof(float) * C * 9);
        float *b = malloc(sizeof(float) * C), *sw = malloc(sizeof(float) * C);
        int8_t *x8 = malloc(in), *y8 = malloc(out), *w8 = malloc((size_t)C * 9), *xq = malloc((size_t)H * H);
        if (!x || !y || !w || !b || !sw || !x8 || !y8 || !w8 || !xq) {
            fprintf(stderr, "bench_i8dw: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < in; i++) {
            uint32_t h = (uint32_t)(i * 2654435761u) % 255u;
            x[i] = (float)h / 255.0f - 0.5f;
            x8[i] = (int8_t)((int)h - 127);
        }
        for (int i = 0; i < C * 9; i++) {
            w[i] = 0.1f * (float)(i % 7 - 3);
            w8[i] = (int8_t)(i % 200 - 100);
        }
        for (int i = 0; i < C; i++) {
            b[i] = 0.01f * (float)i;
            sw[i] = 0.01f;
        }
        al_i8dw_io io = {NULL, x8, 0.05f, NULL, y8, 10.0f};
        double bf = 1e30, bi = 1e30;
        for (int r = 0; r < 7; r++) {
            double t0 = cpu_now();
            al_dw_forward_planes(&g, C, 0, np, x, w, b, 2, y);
            double t1 = cpu_now();
            al_i8dw_planes(&g, C, 0, np, &io, xq, w8, sw, b, 2);
            double t2 = cpu_now();
            if (t1 - t0 < bf) bf = t1 - t0;
            if (t2 - t1 < bi) bi = t2 - t1;
        }
        char name[32];
        snprintf(name, sizeof name, "%d, %d, %d (x%d)", C, H, s, L[l][3]);
        printf("%-18s %9.3f %9.3f %6.2f\n", name, 1e3 * bf, 1e3 * bi, bi / bf);
        tf += bf * L[l][3];
        ti += bi * L[l][3];
        free(x), free(y), free(w), free(b), free(sw), free(x8), free(y8), free(w8), free(xq);
    }
    printf("%-18s %9.3f %9.3f %6.2f\n", "all 14 layers", 1e3 * tf, 1e3 * ti, ti / tf);
    return 0;
}
