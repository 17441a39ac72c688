/* int8 depthwise convolution of one plane (kernels.h, "int8 depthwise"):
 * the plain-C reference, the dispatch to the SIMD variants
 * (int8_dw_avx512.c, int8_dw_avx2.c, int8_dw_neon.c), which follow the
 * int8 GEMM's choice (al_i8_current). The helpers the variants share are
 * in int8_dw_window.c.
 * Integer sums are exact in any order, and the epilogue is the same float
 * operations everywhere, so the variants match the reference bit for bit. */
#include "kernels/kernels.h"

#include <string.h>

/* y = acc * sc + b, then ReLU (keep y unless y <= 0) or ReLU6 (the
 * max(0, y), min(6, .) of al_act_apply and of the vector max/min
 * instructions: NaN and -0 pass). */
static float epilogue(int32_t acc, float sc, float b, int act) {
    float y = (float)acc * sc + b;
    if (act == 1) {
        if (y <= 0.0f) y = 0.0f;
    } else if (act == 2) {
        y = 0.0f > y ? 0.0f : y;
        y = 6.0f < y ? 6.0f : y;
    }
    return y;
}

void al_i8dw_forward_ref(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                         float *y) {
    float sc = sx * sw;
    for (int oy = 0; oy < g->Ho; oy++)
        for (int ox = 0; ox < g->Wo; ox++) {
            int32_t acc = 0;
            for (int ky = 0; ky < g->k; ky++) {
                int iy = oy * g->s - g->p + ky;
                if (iy < 0 || iy >= g->H) continue;
                for (int kx = 0; kx < g->k; kx++) {
                    int ix = ox * g->s - g->p + kx;
                    if (ix >= 0 && ix < g->W) acc += (int32_t)w[ky * g->k + kx] * x[(size_t)iy * g->W + ix];
                }
            }
            y[(size_t)oy * g->Wo + ox] = epilogue(acc, sc, b, act);
        }
}

void al_i8dw_forward(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                     float *y) {
    if (al_dw_simd_applies(g)) switch (al_i8_current()) {
#if defined(__x86_64__) || defined(_M_X64)
        case AL_I8_VNNI: al_i8dw_forward_avx512(g, x, sx, w, sw, b, act, y); return;
        case AL_I8_AVX2: al_i8dw_forward_avx2(g, x, sx, w, sw, b, act, y); return;
#endif
#if defined(__aarch64__)
        case AL_I8_NEON: al_i8dw_forward_neon(g, x, sx, w, sw, b, act, y); return;
#endif
        default: break;
        }
    al_i8dw_forward_ref(g, x, sx, w, sw, b, act, y);
}

void al_i8dw_forward_planes(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, int8_t *xq,
                            const int8_t *w, const float *sw, const float *b, int act, float *y) {
#if defined(__x86_64__) || defined(_M_X64)
    if (al_dw_simd_applies(g) && al_i8_current() == AL_I8_VNNI &&
        al_i8dw_forward_planes_avx512(g, C, pl0, pl1, x, w, sw, b, act, y))
        return;
#endif
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    for (long pl = pl0; pl < pl1; pl++) {
        int c = (int)(pl % C);
        float sx = al_i8_quantize(x + (size_t)pl * in_plane, (long)in_plane, xq);
        al_i8dw_forward(g, xq, sx, w + (size_t)c * g->k * g->k, sw[c], b ? b[c] : 0.0f, act,
                        y + (size_t)pl * out_plane);
    }
}

float al_i8_quantize(const float *x, long n, int8_t *q) {
    switch (al_i8_current()) {
#if defined(__x86_64__) || defined(_M_X64)
    case AL_I8_VNNI: return al_i8_quantize_avx512(x, n, q);
    case AL_I8_AVX2: return al_i8_quantize_avx2(x, n, q);
#endif
#if defined(__aarch64__)
    case AL_I8_NEON: return al_i8_quantize_neon(x, n, q);
#endif
    default: return al_quantize_row_i8(x, n, q);
    }
}
