/* Depthwise convolution of one plane, AVX2 + FMA (kernels.h: al_dw_*).
 * The same scheme as dwconv_avx512.c with 8 lanes: the chunk of output
 * columns is the outer loop, so the load masks of its taps (vmaskmovps,
 * which reads masked-off lanes as zeros without touching memory) are made
 * once per chunk; stride 2 loads 16 columns and keeps the even ones
 * (vshufps + vpermpd); the stride-2 input gradient expands dy with vpermps
 * and zeroes the odd lanes. */
#include "kernels/kernels.h"

#include <immintrin.h>

#define AI static inline __attribute__((always_inline))

/* lanes j in [0, 8) with 0 <= base + j < n, as a vmaskmov mask */
AI __m256i cmask(int base, int n) {
    __m256i v = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(base));
    return _mm256_and_si256(_mm256_cmpgt_epi32(v, _mm256_set1_epi32(-1)), _mm256_cmpgt_epi32(_mm256_set1_epi32(n), v));
}

typedef struct chunk_masks {
    __m256i m0[AL_DW_KMAX], m1[AL_DW_KMAX];
} chunk_masks;

AI void make_masks(chunk_masks *cm, int c, int W, int k, int s, int p) {
    for (int kx = 0; kx < k; kx++) {
        cm->m0[kx] = cmask(c * s - p + kx, W);
        cm->m1[kx] = s == 2 ? cmask(c * s - p + kx + 8, W) : _mm256_setzero_si256();
    }
}

/* lanes j: row[kx + j*s], zero outside the image */
AI __m256 win(const float *row, const chunk_masks *cm, int kx, int s) {
    if (s == 1) return _mm256_maskload_ps(row + kx, cm->m0[kx]);
    __m256 t = _mm256_shuffle_ps(_mm256_maskload_ps(row + kx, cm->m0[kx]), _mm256_maskload_ps(row + kx + 8, cm->m1[kx]),
                                 _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* the lanes' sum in a fixed order */
AI float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI void fwd_plane(const al_dw_geom *g, const float *x, const float *w, float b, float *y, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    for (int c = 0; c < Wo; c += 8) {
        chunk_masks cm;
        make_masks(&cm, c, W, k, s, p);
        __m256i om = cmask(c, Wo);
        for (int oy = 0; oy < g->Ho; oy++) {
            int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
            __m256 acc = _mm256_set1_ps(b);
            for (int ky = ky0; ky < ky1; ky++) {
                const float *row = x + (size_t)(oy * s - p + ky) * W + c * s - p;
                for (int kx = 0; kx < k; kx++)
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + ky * k + kx), win(row, &cm, kx, s), acc);
            }
            if (c + 8 <= Wo)
                _mm256_storeu_ps(y + (size_t)oy * Wo + c, acc);
            else
                _mm256_maskstore_ps(y + (size_t)oy * Wo + c, om, acc);
        }
    }
}

void al_dw_forward_avx2(const al_dw_geom *g, const float *x, const float *w, float b, float *y) {
    if (g->k == 3 && g->s == 1)
        fwd_plane(g, x, w, b, y, 3, 1);
    else if (g->k == 3)
        fwd_plane(g, x, w, b, y, 3, 2);
    else
        fwd_plane(g, x, w, b, y, g->k, g->s);
}

AI void dw_plane(const al_dw_geom *g, int n, long xs, long ys, const float *x0, const float *dy0, float *dw,
                 float *db, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    __m256 acc[AL_DW_KMAX * AL_DW_KMAX], dacc = _mm256_setzero_ps();
    for (int t = 0; t < k * k; t++) acc[t] = _mm256_setzero_ps();
    for (int c = 0; c < Wo; c += 8) {
        chunk_masks cm;
        make_masks(&cm, c, W, k, s, p);
        __m256i om = cmask(c, Wo);
        for (int i = 0; i < n; i++)
            for (int oy = 0; oy < g->Ho; oy++) {
                const float *x = x0 + (size_t)i * xs, *dy = dy0 + (size_t)i * ys;
                int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
                __m256 d = _mm256_maskload_ps(dy + (size_t)oy * Wo + c, om);
                dacc = _mm256_add_ps(dacc, d);
                if (!dw) continue;
                for (int ky = ky0; ky < ky1; ky++) {
                    const float *row = x + (size_t)(oy * s - p + ky) * W + c * s - p;
                    for (int kx = 0; kx < k; kx++)
                        acc[ky * k + kx] = _mm256_fmadd_ps(d, win(row, &cm, kx, s), acc[ky * k + kx]);
                }
            }
    }
    if (dw)
        for (int t = 0; t < k * k; t++) dw[t] += hsum(acc[t]);
    if (db) *db += hsum(dacc);
}

static int floor2(int t) { return t >= 0 ? t / 2 : -((1 - t) / 2); }

/* dx of a stride-2 plane, every element written */
AI void dx_s2(const al_dw_geom *g, const float *dy, const float *w, float *dx, int k) {
    const int W = g->W, p = g->p, Ho = g->Ho, Wo = g->Wo;
    const __m256i idx0 = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), idx1 = _mm256_setr_epi32(0, 1, 1, 2, 2, 3, 3, 4);
    const __m256 keep0 = _mm256_castsi256_ps(_mm256_setr_epi32(-1, 0, -1, 0, -1, 0, -1, 0));
    const __m256 keep1 = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, 0, -1, 0, -1, 0, -1));
    for (int c = 0; c < W; c += 8) {
        int base[AL_DW_KMAX];
        __m256i lm[AL_DW_KMAX], ix[AL_DW_KMAX];
        __m256 keep[AL_DW_KMAX];
        for (int kx = 0; kx < k; kx++) {
            int t0 = c + p - kx, par;
            base[kx] = floor2(t0);
            par = t0 - 2 * base[kx];
            lm[kx] = cmask(base[kx], Wo);
            ix[kx] = par ? idx1 : idx0;
            keep[kx] = par ? keep1 : keep0;
        }
        __m256i om = cmask(c, W);
        for (int iy = 0; iy < g->H; iy++) {
            __m256 acc = _mm256_setzero_ps();
            for (int ky = 0; ky < k; ky++) {
                int t = iy + p - ky;
                if (t < 0 || (t & 1) || t / 2 >= Ho) continue;
                const float *drow = dy + (size_t)(t / 2) * Wo;
                for (int kx = 0; kx < k; kx++) {
                    __m256 d = _mm256_maskload_ps(drow + base[kx], lm[kx]);
                    __m256 u = _mm256_and_ps(_mm256_permutevar8x32_ps(d, ix[kx]), keep[kx]);
                    acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + ky * k + kx), u, acc);
                }
            }
            if (c + 8 <= W)
                _mm256_storeu_ps(dx + (size_t)iy * W + c, acc);
            else
                _mm256_maskstore_ps(dx + (size_t)iy * W + c, om, acc);
        }
    }
}

void al_dw_backward_avx2(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
                         float *dx, float *dw, float *db) {
    if (dw || db) {
        if (g->k == 3 && g->s == 1)
            dw_plane(g, n, xs, ys, x, dy, dw, db, 3, 1);
        else if (g->k == 3)
            dw_plane(g, n, xs, ys, x, dy, dw, db, 3, 2);
        else
            dw_plane(g, n, xs, ys, x, dy, dw, db, g->k, g->s);
    }
    if (!dx) return;
    int k = g->k;
    if (g->s == 1 && g->p > k - 1) {
        al_dw_backward_ref(g, n, xs, ys, x, dy, w, dx, NULL, NULL);
        return;
    }
    float wf[AL_DW_KMAX * AL_DW_KMAX];
    for (int t = 0; t < k * k; t++) wf[t] = w[k * k - 1 - t];
    al_dw_geom f = {g->Ho, g->Wo, k, 1, k - 1 - g->p, g->H, g->W};
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * ys;
        float *dxi = dx + (size_t)i * xs;
        if (g->s == 2 && k == 3)
            dx_s2(g, dyi, w, dxi, 3);
        else if (g->s == 2)
            dx_s2(g, dyi, w, dxi, k);
        else if (k == 3)
            fwd_plane(&f, dyi, wf, 0.0f, dxi, 3, 1);
        else
            fwd_plane(&f, dyi, wf, 0.0f, dxi, k, 1);
    }
}
