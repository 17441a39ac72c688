/* Direct convolution and the conv kernel choice (kernels.h).
 *
 * Direct: y[f] starts at the bias; each weight w[f][c][ky][kx] adds
 * w * x[c] shifted by (ky, kx) to y[f], one output row at a time over the
 * ox whose input pixel is inside the image (an interval, computed once per
 * kx). The output plane of one filter (Ho*Wo floats, 3 KB for 28x28) stays
 * in L1 while all C*k*k weights are applied; with stride 1 the inner loop
 * is a contiguous axpy the compiler vectorizes. */

#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const char *const algo_names[AL_CONV_NALGOS] = {"im2col", "direct", "winograd"};

const char *al_conv_algo_name(al_conv_algo a) {
    if ((int)a < 0 || a >= AL_CONV_NALGOS) return "auto";
    return algo_names[a];
}

int al_conv_algo_from_name(const char *name) {
    for (int a = 0; a < AL_CONV_NALGOS; a++)
        if (name && strcmp(name, algo_names[a]) == 0) return a;
    return -1;
}

int al_conv_algo_applies(al_conv_algo a, int k, int s) {
    switch (a) {
    case AL_CONV_IM2COL:
    case AL_CONV_DIRECT: return 1;
    case AL_CONV_WINOGRAD: return k == 3 && s == 1;
    default: return 0;
    }
}

static atomic_int forced_algo = -1;

void al_conv_force(al_conv_algo a) { atomic_store(&forced_algo, (int)a < 0 || a >= AL_CONV_NALGOS ? -1 : (int)a); }

/* The cost model, from bench/bench_conv (batch 32, 1 thread; numbers in
 * docs/KERNELS.md): on the reference CNN's layers im2col + the SIMD GEMM
 * beats both other kernels as they stand (direct and the Winograd
 * transforms are plain C the compiler vectorizes for the baseline ISA only,
 * while the GEMM runs AVX2/AVX-512/NEON micro-kernels). So im2col is the
 * default for every shape except where its GEMM cannot help at all: with
 * the portable GEMM (no SIMD micro-kernel) a conv with C*k*k <= 27 goes
 * direct. Winograd is used when asked for (AL_CONV, al_conv_force). */
al_conv_algo al_conv_choose(int C, int H, int W, int F, int k, int s, int p) {
    AL_UNUSED(H);
    AL_UNUSED(W);
    AL_UNUSED(F);
    AL_UNUSED(p);
    int f = atomic_load(&forced_algo);
    if (f < 0) {
        const char *env = getenv("AL_CONV");
        if (env && *env) f = al_conv_algo_from_name(env);
    }
    if (f >= 0 && al_conv_algo_applies((al_conv_algo)f, k, s)) return (al_conv_algo)f;
    al_gemm_variant g = al_gemm_current();
    if ((long)C * k * k <= 27 && (g == AL_GEMM_C || g == AL_GEMM_REF)) return AL_CONV_DIRECT;
    return AL_CONV_IM2COL;
}

void al_conv_direct(const float *x, int C, int H, int W, const float *w, const float *b, int F, int k, int s, int p,
                    float *y) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    size_t P = (size_t)Ho * Wo;
    for (int f = 0; f < F; f++) {
        float *yf = y + (size_t)f * P;
        float bf = b ? b[f] : 0.0f;
        for (size_t q = 0; q < P; q++) yf[q] = bf;
        for (int c = 0; c < C; c++) {
            const float *xc = x + (size_t)c * H * W;
            const float *wfc = w + ((size_t)f * C + c) * k * k;
            for (int kx = 0; kx < k; kx++) {
                /* ox in [lo, hi) reads ix = ox*s - p + kx inside [0, W) */
                int off = p - kx;
                int lo = off <= 0 ? 0 : (off + s - 1) / s;
                int hi = W - 1 + off < 0 ? 0 : (W - 1 + off) / s + 1;
                if (hi > Wo) hi = Wo;
                if (lo >= hi) continue;
                for (int ky = 0; ky < k; ky++) {
                    float wv = wfc[ky * k + kx];
                    int oy0 = p - ky <= 0 ? 0 : (p - ky + s - 1) / s; /* iy = oy*s - p + ky >= 0 */
                    for (int oy = oy0; oy < Ho; oy++) {
                        int iy = oy * s - p + ky;
                        if (iy >= H) break;
                        float *yr = yf + (size_t)oy * Wo;
                        const float *xr = xc + (size_t)iy * W;
                        if (s == 1)
                            for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox - off];
                        else
                            for (int ox = lo; ox < hi; ox++) yr[ox] += wv * xr[ox * s - off];
                    }
                }
            }
        }
    }
}
