/* im2col / col2im for NCHW convolution as GEMM (declared in the level headers).
 *
 * Row (c, ky, kx) of the column matrix holds, for every output pixel
 * (oy, ox), the input pixel x[c][oy*s - p + ky][ox*s - p + kx], or 0 where
 * that falls in the padding. For each row the valid ox form one interval
 * [lo, hi), computed once, so the inner loops have no bounds tests and copy
 * contiguous runs when s = 1. The runs are short (Wo = 7 or 14 floats in a
 * small CNN's later layers), so they are copied by inline loops: a memcpy
 * call per run cost as much as the copying (about half of im2col's time). */
#include "kernels/kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- dispatch: the AVX-512 forms (conv_avx512.c) for "same" stride-1 convs --- */

#if defined(__x86_64__) || defined(_M_X64)
#define AL_CONV_X86 1
int al_im2col_same_avx512(const float *x, int C, int H, int W, int k, int p, float *col, long ldcol);
int al_col2im_same_avx512(const float *col, long ldcol, int C, int H, int W, int k, int p, float *x);
int al_im2col_pack_same_avx512(const al_im2col_src *a, int p0, int kc, int j0, int nc, float *dst);
int al_im2col_pack_s12_avx512(const al_im2col_src *a, int p0, int kc, int j0, int nc, float *dst);
int al_conv1c3_forward_avx512(const float *x, int H, int W, const float *w, const float *b, int F, float *y);
int al_conv1c3_dweight_avx512(const float *x, const float *dy, const float *y, int relu, int n, int H, int W, int F,
                              int f0, int f1, float *dw, float *db);
int al_conv_stem_forward_avx512(const float *x, int C, int H, int W, const float *w, const float *b, int act, int F,
                                float *y);
#endif

/* 1 when the AVX-512 forms may run: the CPU has AVX-512F and AL_CONV_SIMD
 * is not 0 (A/B timing; the plain forms stay the reference in the tests). */
static atomic_int simd_env = -1;

int al_cnn_simd(void) {
#ifdef AL_CONV_X86
    return __builtin_cpu_supports("avx512f") && al_env_on_once(&simd_env, "AL_CONV_SIMD");
#else
    (void)simd_env;
    return 0;
#endif
}

static int conv_simd(void) { return al_cnn_simd(); }

/* stride 1 and Ho = H, Wo = W: the shape the AVX-512 forms handle */
static int same_conv(int k, int s, int p) { return s == 1 && 2 * p == k - 1 && k <= 31; }

int al_conv1c3_available(int H, int W) {
#ifdef AL_CONV_X86
    /* conv_avx512.c's mask table: 9 taps x ceil(H*W/16) blocks, at most 4096 */
    return conv_simd() && H > 0 && W > 0 && ((long)H * W + 15) / 16 * 9 <= 4096;
#else
    AL_UNUSED(H);
    AL_UNUSED(W);
    return 0;
#endif
}

int al_conv1c3_forward(const float *x, int H, int W, const float *w, const float *b, int F, float *y) {
#ifdef AL_CONV_X86
    if (al_conv1c3_available(H, W)) return al_conv1c3_forward_avx512(x, H, W, w, b, F, y);
#endif
    AL_UNUSED(x);
    AL_UNUSED(H);
    AL_UNUSED(W);
    AL_UNUSED(w);
    AL_UNUSED(b);
    AL_UNUSED(F);
    AL_UNUSED(y);
    return 0;
}

int al_conv_stem_forward(const float *x, int C, int H, int W, const float *w, const float *b, int act, int F,
                         float *y) {
#ifdef AL_CONV_X86
    if (conv_simd()) return al_conv_stem_forward_avx512(x, C, H, W, w, b, act, F, y);
#endif
    AL_UNUSED(x);
    AL_UNUSED(C);
    AL_UNUSED(H);
    AL_UNUSED(W);
    AL_UNUSED(w);
    AL_UNUSED(b);
    AL_UNUSED(act);
    AL_UNUSED(F);
    AL_UNUSED(y);
    return 0;
}

int al_conv1c3_dweight(const float *x, const float *dy, const float *y, int relu, int n, int H, int W, int F, int f0,
                       int f1, float *dw, float *db) {
#ifdef AL_CONV_X86
    if (al_conv1c3_available(H, W)) return al_conv1c3_dweight_avx512(x, dy, y, relu, n, H, W, F, f0, f1, dw, db);
#endif
    AL_UNUSED(x);
    AL_UNUSED(dy);
    AL_UNUSED(y);
    AL_UNUSED(relu);
    AL_UNUSED(n);
    AL_UNUSED(H);
    AL_UNUSED(W);
    AL_UNUSED(F);
    AL_UNUSED(f0);
    AL_UNUSED(f1);
    AL_UNUSED(dw);
    AL_UNUSED(db);
    return 0;
}

void al_im2col(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol) {
#ifdef AL_CONV_X86
    if (same_conv(k, s, p) && conv_simd() && al_im2col_same_avx512(x, C, H, W, k, p, col, ldcol)) return;
#endif
    al_im2col_ref(x, C, H, W, k, s, p, col, ldcol);
}

void al_col2im(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x) {
#ifdef AL_CONV_X86
    if (same_conv(k, s, p) && conv_simd() && al_col2im_same_avx512(col, ldcol, C, H, W, k, p, x)) return;
#endif
    al_col2im_ref(col, ldcol, C, H, W, k, s, p, x);
}

void al_im2col_pack(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst) {
#ifdef AL_CONV_X86
    const al_im2col_src *a = ctx;
    if (NR == 32 && conv_simd()) {
        /* a 1x1 conv of stride 1 reads each plane as one row of H*W pixels:
         * the packers see one run per sample, not one per row (a 3x3 plane's
         * 1x1 convs would otherwise be left to the plain form) */
        al_im2col_src flat;
        if (a->k == 1 && a->s == 1 && a->p == 0 && (long)a->H * a->W <= 0x7fffffffL) {
            flat = *a;
            flat.W = flat.Wo = a->H * a->W;
            flat.H = flat.Ho = 1;
            a = &flat;
        }
        if (same_conv(a->k, a->s, a->p) && al_im2col_pack_same_avx512(a, p0, kc, j0, nc, dst)) return;
        if (al_im2col_pack_s12_avx512(a, p0, kc, j0, nc, dst)) return;
    }
#endif
    al_im2col_pack_ref(ctx, p0, kc, j0, nc, NR, dst);
}

/* The ox in [0, Wo) with 0 <= ox*s - p + kx < W: [*lo, *hi). */
static void valid_range(int W, int Wo, int s, int p, int kx, int *lo, int *hi) {
    int off = p - kx; /* ix = ox*s - off */
    int l = off <= 0 ? 0 : (off + s - 1) / s;
    int h = W - 1 + off < 0 ? 0 : (W - 1 + off) / s + 1;
    if (l > Wo) l = Wo;
    if (h > Wo) h = Wo;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

void al_im2col_ref(const float *x, int C, int H, int W, int k, int s, int p, float *col, long ldcol) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                int lo, hi;
                valid_range(W, Wo, s, p, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++, dst += Wo) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) {
                        for (int ox = 0; ox < Wo; ox++) dst[ox] = 0.0f;
                        continue;
                    }
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (lo < hi) {
                        /* the first valid pixel, ix = lo*s - p + kx >= 0 */
                        const float *src = x + ((size_t)c * H + iy) * W + (lo * s - p + kx);
                        if (s == 1)
                            for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox - lo];
                        else
                            for (int ox = lo; ox < hi; ox++) dst[ox] = src[(size_t)(ox - lo) * s];
                    }
                    for (int ox = hi; ox < Wo; ox++) dst[ox] = 0.0f;
                }
            }
}

void al_col2im_ref(const float *col, long ldcol, int C, int H, int W, int k, int s, int p, float *x) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    memset(x, 0, sizeof(float) * (size_t)C * H * W);
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = col + (size_t)((c * k + ky) * k + kx) * (size_t)ldcol;
                int lo, hi;
                valid_range(W, Wo, s, p, kx, &lo, &hi);
                for (int oy = 0; oy < Ho; oy++, src += Wo) {
                    int iy = oy * s - p + ky;
                    if (iy < 0 || iy >= H) continue;
                    if (lo == hi) continue;
                    float *dst = x + ((size_t)c * H + iy) * W + (lo * s - p + kx);
                    if (s == 1)
                        for (int ox = lo; ox < hi; ox++) dst[ox - lo] += src[ox];
                    else
                        for (int ox = lo; ox < hi; ox++) dst[(size_t)(ox - lo) * s] += src[ox];
                }
            }
}

/* Implicit im2col: the panels al_sgemm_bpack asks for, read from the images.
 * A panel's NR columns (batch pixels j = i*P + oy*Wo + ox) fall into runs
 * of one output row of one sample; each run is found once per panel, and
 * each of the kc rows (c, ky, kx) then copies every run as im2col copies a
 * row, into the panel instead of a column matrix that the GEMM would read
 * back. NR is at most 64 (the kernels' widest tile is 32). */
#define PACK_RUNS_MAX 64
void al_im2col_pack_ref(const void *ctx, int p0, int kc, int j0, int nc, int NR, float *dst) {
    const al_im2col_src *a = ctx;
    const int k = a->k, s = a->s, H = a->H, W = a->W, Wo = a->Wo;
    const long P = (long)a->Ho * Wo;
    const size_t HW = (size_t)H * W, CHW = (size_t)a->C * HW;
    struct {
        const float *base; /* the sample's image */
        int iy0, ix0, len, off;
    } run[PACK_RUNS_MAX];
    for (int cb = 0; cb < nc; cb += NR, dst += (size_t)NR * kc) {
        int ncols = AL_MIN(NR, nc - cb), nrun = 0;
        for (int t = 0; t < ncols && nrun < PACK_RUNS_MAX;) {
            long j = (long)j0 + cb + t, q = j % P;
            int oy = (int)(q / Wo), ox = (int)(q % Wo);
            int len = AL_MIN(Wo - ox, ncols - t);
            run[nrun].base = a->x + (size_t)(j / P) * CHW;
            run[nrun].iy0 = oy * s - a->p;
            run[nrun].ix0 = ox * s - a->p;
            run[nrun].len = len;
            run[nrun].off = t;
            nrun++;
            t += len;
        }
        int c = p0 / (k * k), ky = p0 / k % k, kx = p0 % k;
        for (int pp = 0; pp < kc; pp++) {
            float *d = dst + (size_t)pp * NR;
            for (int u = 0; u < nrun; u++) {
                float *o = d + run[u].off;
                int len = run[u].len, iy = run[u].iy0 + ky, ix = run[u].ix0 + kx;
                if (iy < 0 || iy >= H) {
                    for (int t = 0; t < len; t++) o[t] = 0.0f;
                    continue;
                }
                const float *src = run[u].base + (size_t)c * HW + (size_t)iy * W;
                /* the t in [0, len) with 0 <= ix + t*s < W: [lo, hi) */
                int lo = ix >= 0 ? 0 : (-ix + s - 1) / s;
                int hi = ix >= W ? 0 : (W - ix + s - 1) / s;
                if (lo > len) lo = len;
                if (hi > len) hi = len;
                if (hi < lo) hi = lo;
                for (int t = 0; t < lo; t++) o[t] = 0.0f;
                if (s == 1)
                    for (int t = lo; t < hi; t++) o[t] = src[ix + t];
                else
                    for (int t = lo; t < hi; t++) o[t] = src[ix + t * s];
                for (int t = hi; t < len; t++) o[t] = 0.0f;
            }
            for (int t = ncols; t < NR; t++) d[t] = 0.0f;
            if (++kx == k) {
                kx = 0;
                if (++ky == k) {
                    ky = 0;
                    c++;
                }
            }
        }
    }
}
