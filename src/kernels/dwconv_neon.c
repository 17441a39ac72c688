/* Depthwise convolution of one plane, NEON (aarch64; kernels.h: al_dw_*).
 * NEON has no masked loads, so a row is walked 4 outputs at a time where
 * the whole window of every tap lies in the image (stride 2: vld2q keeps
 * the even columns and reads one column more, which must lie in the row
 * too), and one output at a time elsewhere (the borders), each output
 * summed in the same tap order either way. The stride-2 input gradient
 * takes 8 dx columns at a time from 4 dy values interleaved with zeros
 * (vzip). */
#include "kernels/kernels.h"

#include <arm_neon.h>
#include <math.h>

#define AI static inline __attribute__((always_inline))

/* 1 when outputs ox .. ox+3 of a row read only columns inside [0, W) */
AI int interior(int ox, int Wo, int W, int k, int s, int p) {
    return ox + 4 <= Wo && ox * s - p >= 0 && (ox + 3) * s - p + (k - 1) + (s - 1) <= W - 1;
}

AI float32x4_t win(const float *row, int base, int s) {
    if (s == 1) return vld1q_f32(row + base);
    return vld2q_f32(row + base).val[0];
}

AI void fwd_plane(const al_dw_geom *g, const float *x, const float *w, float b, float *y, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    for (int oy = 0; oy < g->Ho; oy++) {
        int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
        float *yr = y + (size_t)oy * Wo;
        const float *x0 = x + (long)(oy * s - p) * W; /* row ky of the window: x0 + ky*W */
        int ox = 0;
        while (ox < Wo) {
            if (interior(ox, Wo, W, k, s, p)) {
                float32x4_t acc = vdupq_n_f32(b);
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = 0; kx < k; kx++)
                        acc = vfmaq_n_f32(acc, win(x0 + (long)ky * W, ox * s - p + kx, s), w[ky * k + kx]);
                vst1q_f32(yr + ox, acc);
                ox += 4;
                continue;
            }
            float acc = b;
            for (int ky = ky0; ky < ky1; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * s - p + kx;
                    if (ix >= 0 && ix < W) acc = fmaf(w[ky * k + kx], x0[(long)ky * W + ix], acc);
                }
            yr[ox++] = acc;
        }
    }
}

void al_dw_forward_neon(const al_dw_geom *g, const float *x, const float *w, float b, float *y) {
    if (g->k == 3 && g->s == 1)
        fwd_plane(g, x, w, b, y, 3, 1);
    else if (g->k == 3)
        fwd_plane(g, x, w, b, y, 3, 2);
    else
        fwd_plane(g, x, w, b, y, g->k, g->s);
}

AI void dw_plane(const al_dw_geom *g, int n, long xs, long ys, const float *xb, const float *dyb, float *dw,
                 float *db, int k, int s) {
    const int H = g->H, W = g->W, p = g->p, Wo = g->Wo;
    float32x4_t acc[AL_DW_KMAX * AL_DW_KMAX], dacc = vdupq_n_f32(0.0f);
    float sacc[AL_DW_KMAX * AL_DW_KMAX], sd = 0.0f;
    for (int t = 0; t < k * k; t++) {
        acc[t] = vdupq_n_f32(0.0f);
        sacc[t] = 0.0f;
    }
    for (int i = 0; i < n; i++)
    for (int oy = 0; oy < g->Ho; oy++) {
        const float *x = xb + (size_t)i * xs, *dy = dyb + (size_t)i * ys;
        int ky0 = AL_MAX(0, p - oy * s), ky1 = AL_MIN(k, H + p - oy * s);
        const float *dr = dy + (size_t)oy * Wo;
        const float *x0 = x + (long)(oy * s - p) * W;
        int ox = 0;
        while (ox < Wo) {
            if (interior(ox, Wo, W, k, s, p)) {
                float32x4_t d = vld1q_f32(dr + ox);
                dacc = vaddq_f32(dacc, d);
                if (dw)
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = 0; kx < k; kx++)
                            acc[ky * k + kx] =
                                vfmaq_f32(acc[ky * k + kx], d, win(x0 + (long)ky * W, ox * s - p + kx, s));
                ox += 4;
                continue;
            }
            float d = dr[ox];
            sd += d;
            if (dw)
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * s - p + kx;
                        if (ix >= 0 && ix < W) sacc[ky * k + kx] = fmaf(d, x0[(long)ky * W + ix], sacc[ky * k + kx]);
                    }
            ox++;
        }
    }
    if (dw)
        for (int t = 0; t < k * k; t++) dw[t] += vaddvq_f32(acc[t]) + sacc[t];
    if (db) *db += vaddvq_f32(dacc) + sd;
}

/* dx of a stride-2 plane, every element written */
AI void dx_s2(const al_dw_geom *g, const float *dy, const float *w, float *dx, int k) {
    const int W = g->W, p = g->p, Ho = g->Ho, Wo = g->Wo;
    const float32x4_t z = vdupq_n_f32(0.0f);
    for (int iy = 0; iy < g->H; iy++) {
        float *dr = dx + (size_t)iy * W;
        int ix = 0;
        while (ix < W) {
            /* 8 columns at once when every tap's 4 dy values lie in the row:
             * the first index ceil((ix + p - kx) / 2) >= 0 for kx = k-1, the
             * last + 3 < Wo for kx = 0 */
            if (ix + 8 <= W && ix + p - (k - 1) >= -1 && (ix + p + 1) / 2 + 3 <= Wo - 1) {
                float32x4_t a0 = z, a1 = z;
                for (int ky = 0; ky < k; ky++) {
                    int t = iy + p - ky;
                    if (t < 0 || (t & 1) || t / 2 >= Ho) continue;
                    const float *drow = dy + (size_t)(t / 2) * Wo;
                    for (int kx = 0; kx < k; kx++) {
                        int t0 = ix + p - kx, par = t0 & 1; /* t0 >= -1 */
                        float32x4_t d = vld1q_f32(drow + (t0 + par) / 2);
                        float32x4_t lo = par ? vzip1q_f32(z, d) : vzip1q_f32(d, z);
                        float32x4_t hi = par ? vzip2q_f32(z, d) : vzip2q_f32(d, z);
                        a0 = vfmaq_n_f32(a0, lo, w[ky * k + kx]);
                        a1 = vfmaq_n_f32(a1, hi, w[ky * k + kx]);
                    }
                }
                vst1q_f32(dr + ix, a0);
                vst1q_f32(dr + ix + 4, a1);
                ix += 8;
                continue;
            }
            float acc = 0.0f;
            for (int ky = 0; ky < k; ky++) {
                int t = iy + p - ky;
                if (t < 0 || (t & 1) || t / 2 >= Ho) continue;
                for (int kx = 0; kx < k; kx++) {
                    int u = ix + p - kx;
                    if (u < 0 || (u & 1) || u / 2 >= Wo) continue;
                    acc = fmaf(w[ky * k + kx], dy[(size_t)(t / 2) * Wo + u / 2], acc);
                }
            }
            dr[ix++] = acc;
        }
    }
}

void al_dw_backward_neon(const al_dw_geom *g, int n, long xs, long ys, const float *x, const float *dy, const float *w,
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
