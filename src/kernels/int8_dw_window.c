/* What the int8 depthwise SIMD variants (int8_dw_avx512.c, int8_dw_avx2.c,
 * int8_dw_neon.c) share (kernels.h, "int8 depthwise"): the weights packed
 * in pairs of taps, and a kernel window's rows with the zero padding of the
 * border made explicit. Below the variants and the dispatch in int8_dw.c. */
#include "kernels/kernels.h"

#include <string.h>

void al_i8dw_wpairs(const int8_t *w, int k, int32_t *wp) {
    int np = (k + 1) / 2;
    for (int ky = 0; ky < k; ky++)
        for (int j = 0; j < np; j++) {
            int kx = 2 * j;
            uint32_t lo = (uint16_t)(int16_t)w[ky * k + kx], hi = kx + 1 < k ? (uint16_t)(int16_t)w[ky * k + kx + 1] : 0;
            wp[ky * np + j] = (int32_t)(lo | hi << 16);
        }
}

void al_i8dw_window(const al_dw_geom *g, const int8_t *x, int oy, int c0, int span,
                    int8_t tmp[AL_DW_KMAX][AL_I8DW_TMPW], const int8_t **r) {
    int inside = c0 >= 0 && c0 + span <= g->W;
    for (int ky = 0; ky < g->k; ky++) {
        int iy = oy * g->s - g->p + ky;
        int row_in = iy >= 0 && iy < g->H;
        if (row_in && inside) {
            r[ky] = x + (size_t)iy * g->W + c0;
            continue;
        }
        memset(tmp[ky], 0, (size_t)span);
        if (row_in) {
            int lo = c0 < 0 ? -c0 : 0, hi = g->W - c0 < span ? g->W - c0 : span;
            if (hi > lo) memcpy(tmp[ky] + lo, x + (size_t)iy * g->W + c0 + lo, (size_t)(hi - lo));
        }
        r[ky] = tmp[ky];
    }
}
