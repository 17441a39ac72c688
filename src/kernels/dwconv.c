/* Depthwise convolution, one plane at a time (src/layers/dwconv2d.c): the
 * dispatch to the SIMD variants (dwconv_avx512.c, dwconv_avx2.c,
 * dwconv_neon.c) and the plain-C reference (dwconv_ref.c).
 *
 * The SIMD variants cover stride 1 and 2 and k <= AL_DW_KMAX; other shapes
 * take the reference whatever the variant. Each variant sums in an order
 * fixed by the shape (never by the thread that runs the plane), with fused
 * multiply-adds, so it differs from the reference by rounding only. */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- dispatch ---------------------------------------------------------------- */

static const char *const dw_names[AL_DW_NVARIANTS] = {"ref", "avx2", "avx512", "neon"};

const char *al_dw_variant_name(al_dw_variant v) {
    if ((int)v < 0 || v >= AL_DW_NVARIANTS) return "auto";
    return dw_names[v];
}

int al_dw_available(al_dw_variant v) {
    switch (v) {
    case AL_DW_REF: return 1;
#if defined(__x86_64__) || defined(_M_X64)
    case AL_DW_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case AL_DW_AVX512: return __builtin_cpu_supports("avx512f");
#endif
#if defined(__aarch64__)
    case AL_DW_NEON: return 1;
#endif
    default: return 0;
    }
}

static pthread_once_t dw_once = PTHREAD_ONCE_INIT;
static al_dw_variant dw_auto = AL_DW_REF;
static atomic_int dw_forced = -1;

static int available(int v) { return al_dw_available((al_dw_variant)v); }

static void dw_select(void) {
    al_dw_variant best = AL_DW_REF;
    if (al_dw_available(AL_DW_NEON)) best = AL_DW_NEON;
    if (al_dw_available(AL_DW_AVX2)) best = AL_DW_AVX2;
    if (al_dw_available(AL_DW_AVX512)) best = AL_DW_AVX512;
    dw_auto = (al_dw_variant)al_env_variant("AL_DWCONV", dw_names, AL_DW_NVARIANTS, available, (int)best);
}

al_dw_variant al_dw_current(void) {
    int f = atomic_load_explicit(&dw_forced, memory_order_relaxed);
    if (f >= 0) return (al_dw_variant)f;
    pthread_once(&dw_once, dw_select);
    return dw_auto;
}

int al_dw_force(al_dw_variant v) {
    if ((int)v < 0) {
        atomic_store(&dw_forced, -1);
        return 1;
    }
    if (v >= AL_DW_NVARIANTS || !al_dw_available(v)) return 0;
    atomic_store(&dw_forced, (int)v);
    return 1;
}

int al_dw_simd_applies(const al_dw_geom *g) {
    return (g->s == 1 || g->s == 2) && g->k >= 1 && g->k <= AL_DW_KMAX && g->p >= 0 && g->Ho > 0 && g->Wo > 0;
}

void al_dw_forward(const al_dw_geom *g, const float *x, const float *w, float b, float *y) {
    if (al_dw_simd_applies(g)) switch (al_dw_current()) {
#if defined(__x86_64__) || defined(_M_X64)
        case AL_DW_AVX512: al_dw_forward_avx512(g, x, w, b, y); return;
        case AL_DW_AVX2: al_dw_forward_avx2(g, x, w, b, y); return;
#endif
#if defined(__aarch64__)
        case AL_DW_NEON: al_dw_forward_neon(g, x, w, b, y); return;
#endif
        default: break;
        }
    al_dw_forward_ref(g, x, w, b, y);
}

void al_dw_forward_planes(const al_dw_geom *g, int C, long pl0, long pl1, const float *x, const float *w,
                          const float *b, int act, float *y) {
#if defined(__x86_64__) || defined(_M_X64)
    if (al_dw_simd_applies(g) && al_dw_current() == AL_DW_AVX512 &&
        al_dw_forward_planes_avx512(g, C, pl0, pl1, x, w, b, act, y))
        return;
#endif
    const int kk = g->k * g->k;
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    for (long pl = pl0; pl < pl1; pl++) {
        const int c = (int)(pl % C);
        float *yp = y + (size_t)pl * out_plane;
        al_dw_forward(g, x + (size_t)pl * in_plane, w + (size_t)c * kk, b ? b[c] : 0.0f, yp);
        if (act == 1)
            al_relu_inplace(yp, out_plane);
        else if (act == 2)
            al_relu6_inplace(yp, out_plane);
    }
}

void al_dw_backward(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                    float *dx, float *dw, float *db) {
    if (al_dw_simd_applies(g)) switch (al_dw_current()) {
#if defined(__x86_64__) || defined(_M_X64)
        case AL_DW_AVX512: al_dw_backward_avx512(g, n, xs, ys, x, dy, w, dx, dw, db); return;
        case AL_DW_AVX2: al_dw_backward_avx2(g, n, xs, ys, x, dy, w, dx, dw, db); return;
#endif
#if defined(__aarch64__)
        case AL_DW_NEON: al_dw_backward_neon(g, n, xs, ys, x, dy, w, dx, dw, db); return;
#endif
        default: break;
        }
    al_dw_backward_ref(g, n, xs, ys, x, dy, w, dx, dw, db);
}

void al_dw_backward_channels(const al_dw_geom *g, int C, int c0, int c1, int n, const float *x, const float *dy,
                             const float *w, float *dx, float *dw, float *db) {
#if defined(__x86_64__) || defined(_M_X64)
    if (al_dw_simd_applies(g) && al_dw_current() == AL_DW_AVX512 &&
        al_dw_backward_channels_avx512(g, C, c0, c1, n, x, dy, w, dx, dw, db))
        return;
#endif
    const int kk = g->k * g->k;
    const size_t in_plane = (size_t)g->H * g->W, out_plane = (size_t)g->Ho * g->Wo;
    const long xs = (long)((size_t)C * in_plane), ys = (long)((size_t)C * out_plane);
    for (int c = c0; c < c1; c++)
        al_dw_backward(g, n, xs, ys, x + (size_t)c * in_plane, dy + (size_t)c * out_plane, w + (size_t)c * kk,
                       dx ? dx + (size_t)c * in_plane : NULL, dw ? dw + (size_t)c * kk : NULL, db ? db + c : NULL);
}
