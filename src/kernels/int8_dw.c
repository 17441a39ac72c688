/* int8 depthwise convolution of one plane (kernels.h, "int8 depthwise"):
 * the plain-C reference, the dispatch to the SIMD variants
 * (int8_dw_avx512.c, int8_dw_avx2.c, int8_dw_neon.c), which follow the
 * int8 GEMM's choice (al_i8_current), and the layer's planes in the three
 * input forms and two output forms of the int8 chain (al_i8dw_io). The
 * helpers the variants share are in int8_dw_window.c.
 * Integer sums are exact in any order, and the epilogue is the same float
 * operations everywhere (al_i8_finish, then al_i8_q for an int8 output), so
 * the variants match the reference bit for bit. */
#include "kernels/kernels.h"

#include <string.h>

/* One plane into y (floats) or yq (int8 at 1 / yinv). */
static void ref_plane(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                      float *y, int8_t *yq, float yinv) {
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
            float v = al_i8_finish(acc, sc, b, act);
            size_t o = (size_t)oy * g->Wo + ox;
            if (yq)
                yq[o] = al_i8_q(v * yinv);
            else
                y[o] = v;
        }
}

void al_i8dw_forward_ref(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                         float *y) {
    ref_plane(g, x, sx, w, sw, b, act, y, NULL, 0.0f);
}

void al_i8dw_forward_q_ref(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b,
                           int act, float yinv, int8_t *yq) {
    ref_plane(g, x, sx, w, sw, b, act, NULL, yq, yinv);
}

static void plane(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                  float *y, int8_t *yq, float yinv) {
    if (al_dw_simd_applies(g)) switch (al_i8_current()) {
#if defined(__x86_64__) || defined(_M_X64)
        case AL_I8_VNNI: al_i8dw_forward_avx512(g, x, sx, w, sw, b, act, y, yq, yinv); return;
        case AL_I8_AVX2: al_i8dw_forward_avx2(g, x, sx, w, sw, b, act, y, yq, yinv); return;
#endif
#if defined(__aarch64__)
        case AL_I8_NEON: al_i8dw_forward_neon(g, x, sx, w, sw, b, act, y, yq, yinv); return;
#endif
        default: break;
        }
    ref_plane(g, x, sx, w, sw, b, act, y, yq, yinv);
}

void al_i8dw_forward(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                     float *y) {
    plane(g, x, sx, w, sw, b, act, y, NULL, 0.0f);
}

void al_i8dw_forward_q(const al_dw_geom *g, const int8_t *x, float sx, const int8_t *w, float sw, float b, int act,
                       float yinv, int8_t *yq) {
    plane(g, x, sx, w, sw, b, act, NULL, yq, yinv);
}

void al_i8dw_planes(const al_dw_geom *g, int C, long pl0, long pl1, const al_i8dw_io *io, int8_t *xq,
                    const int8_t *w, const float *sw, const float *b, int act) {
#if defined(__x86_64__) || defined(_M_X64)
    if (al_dw_simd_applies(g) && al_i8_current() == AL_I8_VNNI && al_i8dw_planes_avx512(g, C, pl0, pl1, io, w, sw, b, act))
        return;
#endif
    size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    const float inv = io->sx > 0.0f ? 1.0f / io->sx : 0.0f;
    for (long pl = pl0; pl < pl1; pl++) {
        int c = (int)(pl % C);
        float sx = io->sx;
        const int8_t *xp = xq;
        if (io->x8)
            xp = io->x8 + (size_t)pl * in_plane;
        else if (sx > 0.0f)
            al_i8_quantize_static(io->x + (size_t)pl * in_plane, (long)in_plane, inv, xq);
        else
            sx = al_i8_quantize(io->x + (size_t)pl * in_plane, (long)in_plane, xq);
        plane(g, xp, sx, w + (size_t)c * g->k * g->k, sw[c], b ? b[c] : 0.0f, act,
              io->y8 ? NULL : io->y + (size_t)pl * out_plane, io->y8 ? io->y8 + (size_t)pl * out_plane : NULL,
              io->yinv);
    }
}

void al_i8dw_forward_planes(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, int8_t *xq,
                            const int8_t *w, const float *sw, const float *b, int act, float *y) {
    al_i8dw_io io = {x, NULL, 0.0f, y, NULL, 0.0f};
    al_i8dw_planes(g, C, pl0, pl1, &io, xq, w, sw, b, act);
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
